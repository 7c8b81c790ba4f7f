"""Django's PostgreSQL backend, with a connection health check that needs no round trip and
JSON columns written by orjson.

**The health check.** Every process keeps its connection (CONN_MAX_AGE) and checks it before
its first use in each request, task or tick (CONN_HEALTH_CHECKS): a database restart closes
every kept connection. Django's check is `SELECT 1`, a round trip to the server on every
request, more than a small statement costs, and a statement of its own for PostgreSQL to run.

A kept connection between requests is idle: the server sends it nothing unless it ends the
session (a restart, a crash, an administrator's terminate: a FATAL message, then end of
file), so the socket is readable exactly when something happened to it. The check here asks
the kernel whether the socket has anything to read (a zero-timeout poll) and only then makes
Django's `SELECT 1`, which decides. A connection the kernel already knows is closed is
unusable at once. What no check can see (a peer gone without a word, or a restart between
the check and the statement) is left, as before, to db_retry's retry of a statement that
changed nothing (pipeline_engine/runtime/db_retry.py).

**JSON columns.** A JSONField without an encoder of its own is written by the engine's JSON
text (`pipeline_engine.api.json_text`: orjson, the standard library for what orjson refuses),
where Django calls `json.dumps`. A task's tree is written on every create, and the standard
library took a tenth of create_and_start_task's time doing it. The columns are jsonb, which
keeps no layout: what is stored is the same value either way.
"""
from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

from django.db.backends.postgresql import base, operations
from django.db.backends.postgresql.psycopg_any import Jsonb


class DatabaseOperations(operations.DatabaseOperations):
    def adapt_json_value(self, value: Any, encoder: type | None) -> Any:
        if encoder is not None:
            return super().adapt_json_value(value, encoder)
        return Jsonb(value, dumps=_json_text())


_dumps: Callable[[Any], str] | None = None


def _json_text() -> Callable[[Any], str]:
    # Imported on first use: the backend loads before the apps are ready, the engine's api after.
    global _dumps
    if _dumps is None:
        from pipeline_engine.api import json_text

        _dumps = json_text
    return _dumps


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed:
            return False
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
            events = poller.poll(0)
        except (OSError, ValueError):  # the descriptor is gone
            return False
        if events:
            return bool(super().is_usable())  # something arrived: the round trip decides
        return True
