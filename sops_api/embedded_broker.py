"""The embedded broker: kombu's filesystem transport, made safe for several processes and quick to stop.

`make run` and the embedded test suite use no broker server: web, worker and
scheduler exchange Celery messages as files in `var/broker/in/`. Two things of
kombu's own filesystem transport are changed here.

- **Whole messages.** kombu's channel creates a message file and only then
  writes into it, while a consumer lists the folder and takes any file with the
  queue's suffix without a lock. A consumer can take a file that is still empty
  and fail on it with a JSONDecodeError, which kills a Celery worker
  ("Unrecoverable error"; seen under load in the embedded suite, and in 5 of 5
  rounds of tests/sops_api/test_embedded_broker.py's exchange run against
  kombu's channel). Here a message is written under a name no queue matches and
  renamed into place when complete (a rename within one folder is atomic), so a
  consumer sees no file or the whole message. Taken messages are moved into the
  broker's own private `processed` folder before they are read (kombu's default
  is the machine's shared temporary folder) and deleted once read.
- **A short blocking poll.** Celery runs transports without an event loop (this
  one) in its blocking loop, which asks the transport for messages with a 2 s
  timeout and checks for a shutdown only between two such calls: every stop of
  an idle worker waited up to 2 s. Capping each call at POLL_SECONDS costs one
  more directory listing per cap and makes a warm shutdown start within it.
- **An outage is waited out.** A message folder that cannot be listed (gone, unmounted) is
  an empty queue with one warning, not an error that ends the worker; a message that cannot
  be written raises kombu's ChannelError, which the sender logs (pipeline_engine's `publish`)
  and the engine's sweep sends again later.

`register()` (called by sops_api/celery.py) makes `filesystem://` URLs use this
transport, through kombu's alias table; a URL of another scheme is not affected.
"""
from __future__ import annotations

import contextlib
import logging
import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu import transport
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

logger = logging.getLogger("sops.broker")

POLL_SECONDS = 0.25
TEMP_PREFIX = ".incoming-"  # no queue's ".<queue>.msg" suffix: consumers never pick these up


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, f"{TEMP_PREFIX}{uuid.uuid4()}")
        try:
            with open(temp, "wb") as handle:
                handle.write(dumps(payload).encode("utf-8"))
            os.replace(temp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> Any:
        suffix = f".{queue}.msg"
        try:
            names = sorted(os.listdir(self.data_folder_in))
        except OSError as exc:
            # The folder is gone or unreadable (a disk unmounted or full, a folder moved): the
            # broker is down, as a Redis server can be. kombu's transport would let the error end
            # the worker ("Unrecoverable error"); polling on finds the messages once it is back.
            _report_outage(self.data_folder_in, exc)
            raise Empty() from exc
        _report_recovery(self.data_folder_in)
        for name in names:
            if not name.endswith(suffix):
                continue
            taken = os.path.join(self.processed_folder, name)
            try:
                # Whoever renames the file first owns the message; the others move on.
                os.replace(os.path.join(self.data_folder_in, name), taken)
            except OSError:
                continue
            try:
                with open(taken, "rb") as handle:
                    payload = handle.read()
                if not self.store_processed:
                    os.remove(taken)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            return loads(payload.decode("utf-8"))
        raise Empty()


_outages: set[str] = set()


def _report_outage(folder: str, exc: OSError) -> None:
    """One warning per outage of a folder, not one per poll."""
    if folder not in _outages:
        _outages.add(folder)
        logger.warning("embedded broker: cannot read %s (%s); waiting for it to come back", folder, exc)


def _report_recovery(folder: str) -> None:
    if _outages and folder in _outages:
        _outages.discard(folder)
        logger.warning("embedded broker: %s is readable again", folder)


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection: Any, timeout: float | None = None) -> Any:
        return super().drain_events(connection, timeout=min(timeout or POLL_SECONDS, POLL_SECONDS))


def register() -> None:
    transport.TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
