"""Losing this process's own database connection, for tests of what the code does then.

Two faults, both real (a real server ends a real session, a real connect is
refused), both confined to the test's own connection so that nothing else on
the shared server is disturbed:

- `kill_own_backend()`: the server ends this thread's session
  (`pg_terminate_backend` of its own backend, from a second connection), as a
  restart does to every session. Django's connection object still looks open;
  its next statement fails with "terminating connection due to administrator
  command" or "server closed the connection unexpectedly".
- `unreachable_database()`: while it is active, this thread's connection goes
  to a port where nothing listens (connect refused), as when the server is
  down. On exit the connection goes back to the real server.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def require_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the embedded SQLite file has no connection to lose")


def _side_connection():  # type: ignore[no-untyped-def]
    import psycopg2
    from django.db import connection

    sd = connection.settings_dict
    return psycopg2.connect(host=sd.get("HOST") or "127.0.0.1", port=sd.get("PORT") or 5432,
                            user=sd.get("USER") or None, password=sd.get("PASSWORD") or None,
                            dbname=sd["NAME"], connect_timeout=5)


def own_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def kill_own_backend() -> int:
    """End this thread's database session from the server side; returns the ended backend's pid."""
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.get_backend_pid()  # psycopg2 knows it without a round trip
    side = _side_connection()
    side.autocommit = True
    try:
        with side.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone()[0] is True, f"backend {pid} was not terminated"
            # pg_terminate_backend only signals: wait until the session is really gone.
            for _ in range(200):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.01)
    finally:
        side.close()
    return pid


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released at once: nothing listens there afterwards


class Outage:
    """The port nothing listens on, and a way to end the outage from another thread."""

    def __init__(self, settings_dict: dict, real: tuple, port: int) -> None:
        self.settings_dict, self.real, self.port = settings_dict, real, port

    def end(self) -> None:
        self.settings_dict["HOST"], self.settings_dict["PORT"] = self.real

    def end_after(self, seconds: float) -> None:
        """The server 'comes back' `seconds` from now (connects made after that succeed)."""
        import threading

        timer = threading.Timer(seconds, self.end)
        timer.daemon = True
        timer.start()


@contextmanager
def unreachable_database() -> Iterator[Outage]:
    """This thread's connection points at a closed port until the block ends."""
    from django.db import connection

    sd = connection.settings_dict
    outage = Outage(sd, (sd.get("HOST"), sd.get("PORT")), closed_port())
    connection.close()
    sd["HOST"], sd["PORT"] = "127.0.0.1", outage.port
    try:
        yield outage
    finally:
        outage.end()
        connection.close()
