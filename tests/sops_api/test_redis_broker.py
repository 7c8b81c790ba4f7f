"""sops_api.redis_broker: a channel of the Redis broker builds one client object and keeps it while its
pool lives, and messages still go and come as with kombu's own channel (against the suite's Redis)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from queue import Empty
from typing import Any

import pytest
import redis
from django.conf import settings
from kombu import Connection
from kombu.transport import redis as kombu_redis

from sops_api import redis_broker
from sops_api.celery import app

pytestmark = pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"),
                                reason="the suite runs on the embedded broker: no Redis broker to talk to")


@pytest.fixture
def channel() -> Iterator[Any]:
    with Connection(settings.CELERY_BROKER_URL) as conn:
        yield conn.default_channel


@pytest.fixture
def queue(channel: Any) -> Iterator[str]:
    name = f"sops-test-{uuid.uuid4().hex}"
    yield name
    channel._create_client().delete(name)


@pytest.fixture
def constructions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the redis.Redis objects built from now on."""
    built: list[int] = []
    original = redis.Redis.__init__

    def counting(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    return built


def _take_all(channel: Any, queue: str) -> list[int]:
    taken = []
    while True:
        try:
            taken.append(channel._get(queue)["n"])
        except Empty:
            return taken


def test_the_app_and_any_redis_url_use_this_transport() -> None:
    for url in (settings.CELERY_BROKER_URL, "rediss://127.0.0.1:6380/0"):
        assert Connection(url).get_transport_cls() is redis_broker.Transport, url
    with app.connection_for_write() as conn:
        assert isinstance(conn.default_channel, redis_broker.Channel)
    # A scheme the module does not claim keeps kombu's transport.
    assert Connection("memory://").get_transport_cls() is not redis_broker.Transport


def test_publishes_build_one_client_and_every_message_arrives_once_in_order(
        channel: Any, queue: str, constructions: list[int]) -> None:
    for n in range(50):
        channel._put(queue, {"n": n})
    # kombu's own channel built one client object per publish (50); this one builds one at most.
    assert len(constructions) <= 1
    assert _take_all(channel, queue) == list(range(50))


def test_the_kept_client_is_the_channels_pools_and_not_the_consumers(channel: Any) -> None:
    kept = channel._create_client()
    assert channel._create_client() is kept
    assert kept.connection_pool is channel.pool
    # The consumer's blocking reads keep their own connection: a client of the other pool.
    consumer = channel._create_client(asynchronous=True)
    assert consumer is not kept
    assert consumer.connection_pool is not channel.pool


def test_a_new_pool_gets_a_new_client(channel: Any, queue: str) -> None:
    kept = channel._create_client()
    channel._disconnect_pools()  # what kombu does when a channel closes or its connection is lost
    fresh = channel._create_client()
    assert fresh is not kept
    assert fresh.connection_pool is channel.pool
    channel._put(queue, {"n": 1})
    assert _take_all(channel, queue) == [1]


def test_a_connection_killed_by_the_server_is_replaced_on_the_next_publish(channel: Any, queue: str) -> None:
    channel._put(queue, {"n": 1})
    kept = channel._create_client()
    own = kept.client_id()  # the pool gives back its last connection: the one the publish used
    admin = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        # What a Redis restart does to the kept client's idle connection: the server closes it.
        assert admin.client_kill_filter(_id=own) == 1
    finally:
        admin.close()
    channel._put(queue, {"n": 2})
    assert kept.client_id() != own
    assert _take_all(channel, queue) == [1, 2]


def test_kombus_own_channel_still_builds_a_client_per_publish(channel: Any, queue: str,
                                                               constructions: list[int]) -> None:
    """The premise of the module: if kombu ever keeps its client itself, this fails and the module can go."""
    with Connection(settings.CELERY_BROKER_URL, transport=kombu_redis.Transport) as conn:
        plain = conn.default_channel
        for n in range(5):
            plain._put(queue, {"n": n})
    assert len(constructions) >= 5
    assert _take_all(channel, queue) == list(range(5))
