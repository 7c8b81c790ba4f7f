"""The embedded broker: kombu's filesystem transport, with a blocking poll short enough to stop fast.

Celery runs transports without an event loop (this one) in its blocking loop,
which asks the transport for messages with a 2 s timeout and checks for a
shutdown only between two such calls: every stop of an idle worker waited up
to 2 s for the poll to end. Capping each call at POLL_SECONDS costs one more
directory listing per cap and makes a warm shutdown start within it.

`register()` (called by sops_api/celery.py) makes `filesystem://` URLs use this
class, through kombu's alias table; a URL of another scheme is not affected.
"""
from __future__ import annotations

from typing import Any

from kombu import transport
from kombu.transport import filesystem

POLL_SECONDS = 0.25


class Transport(filesystem.Transport):
    def drain_events(self, connection: Any, timeout: float | None = None) -> Any:
        return super().drain_events(connection, timeout=min(timeout or POLL_SECONDS, POLL_SECONDS))


def register() -> None:
    transport.TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
