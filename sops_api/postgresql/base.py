"""Django's PostgreSQL backend, with a connection health check that needs no round trip.

Every process keeps its connection (CONN_MAX_AGE) and checks it before its first use in each
request, task or tick (CONN_HEALTH_CHECKS): a database restart closes every kept connection.
Django's check is `SELECT 1`, a round trip to the server on every request, more than a small
statement costs, and a statement of its own for PostgreSQL to run.

A kept connection between requests is idle: the server sends it nothing unless it ends the
session (a restart, a crash, an administrator's terminate: a FATAL message, then end of
file), so the socket is readable exactly when something happened to it. The check here asks
the kernel whether the socket has anything to read (a zero-timeout poll) and only then makes
Django's `SELECT 1`, which decides. A connection the kernel already knows is closed is
unusable at once. What no check can see (a peer gone without a word, or a restart between
the check and the statement) is left, as before, to db_retry's retry of a statement that
changed nothing (pipeline_engine/runtime/db_retry.py).
"""
from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
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
