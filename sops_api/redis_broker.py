"""The Redis broker: kombu's Redis transport, with one client object per channel.

kombu's Redis channel builds a new `redis.Redis` object for every command it sends outside
its consumer's own connection: every publish (`_put`), and, in a worker's main process, the
two pipelines of each message's acknowledgement bookkeeping (`QoS.append` when a message is
delivered, `QoS.ack` when its task is done). The objects all use the channel's one connection
pool, so a fresh one gains nothing, but redis-py's constructor builds its table of response
callbacks each time: ~150 µs on a 2-core machine, more than the LPUSH round trip it precedes
(~100 µs). A worker's main process paid it twice per message, a tenth of its CPU in the
locust loop of bench/ (py-spy), and every publish from a web request once.

Here a channel keeps the client it built for as long as its pool is the same one: kombu drops
the pool when the channel closes, and a new pool gets a new client. Sharing one client is what
the fresh ones did already: redis-py's client holds no connection of its own (each command
takes one from the pool and gives it back), and is documented as safe to share between
threads; a pipeline is still a new object per use.

`register()` (called by sops_api/celery.py) makes `redis://` and `rediss://` URLs use this
transport, through kombu's alias table, as embedded_broker does for `filesystem://`; other
schemes (sentinel) keep kombu's own.
"""
from __future__ import annotations

from typing import Any

from kombu import transport
from kombu.transport import redis

SCHEMES = ("redis", "rediss")


class Channel(redis.Channel):
    _kept_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's connection (BRPOP), one per channel already
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._kept_client
        if client is None or client.connection_pool is not pool:
            client = self._kept_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel


def register() -> None:
    for scheme in SCHEMES:
        transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
