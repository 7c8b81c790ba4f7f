"""The one rule for a lost database connection: retry once if nothing changed, never otherwise.

A process keeps its database connection between tasks, ticks and requests
(CONN_MAX_AGE), and Django checks it before reuse (CONN_HEALTH_CHECKS). A
connection can still die between that check and the next statement: the
server restarts, or is down for a moment. `retry_if_unchanged(fn)` runs `fn`
and, when the connection is lost, runs it **once more on a fresh connection
only if the first attempt cannot have changed anything**:

- **retried**: the error came at connect, or from the first statement of the
  attempt (no statement of it had completed). The server never saw that
  statement, or saw it and lost it with the session: the first statement of
  an explicit transaction (an engine step's `SELECT ... FOR UPDATE`) commits
  nothing by itself, and a read changes nothing at all.
- **not retried**: a statement of the attempt had completed (a write may have
  been made, or a transaction may be half done), or the error came at COMMIT
  (the commit may have happened; nobody can tell). The error propagates as
  before and the engine's fences and reaper deal with it, as they deal with a
  killed worker: a step is one transaction, so a cut one left nothing; work
  whose result was not recorded is re-sent when its lease expires. Each such
  case is logged at WARNING with the attempt's label and "not retried".
- **never inside a caller's transaction**: called inside an atomic block, `fn`
  runs once, untouched; the transaction is the caller's to roll back.

Only a lost connection counts (`connection_lost`): the server closed it or
cannot be reached, it was shut down (SQLSTATE class 08, 57P01-57P03), or the
client finds it closed. A deadlock, a timeout or a constraint violation is the
caller's business and is never retried here.

"Fresh connection": the dead one is closed first. A worker, the sweep and the
scheduler (`wait=None`) then wait up to SOPS_DB_RETRY_WAIT_SECONDS (10 s) for
the server to accept connections again before the one retry: a restart takes
a second or two, and they cannot do anything useful meanwhile, whereas giving
up sends the work to the reaper, which waits a whole lease. A web request
(`wait=0`) retries at once and answers "service unavailable" if the server is
still down, rather than keep a caller waiting.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections

from . import config

logger = logging.getLogger("pipeline_engine.db")

T = TypeVar("T")

# SQLSTATEs of a server that closed or refused the session: connection exceptions, and
# admin_shutdown / crash_shutdown / cannot_connect_now ("the database system is starting up").
LOST_SQLSTATE_CLASSES = ("08",)
LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
POLL_SECONDS = 0.1


reconnect_wait_seconds = config.db_retry_wait_seconds


def connection_lost(exc: BaseException) -> bool:
    """Is `exc` the database connection being lost or refused (not an error of the statement)?"""
    if isinstance(exc, InterfaceError):
        return True  # "connection already closed": the client found it dead
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if not type(cause).__module__.startswith("psycopg"):
        return False  # SQLite's OperationalError is about the file or the statement, never a lost server
    code = getattr(cause, "pgcode", None)
    if code is None:
        return True  # libpq's own error: could not connect, server closed the connection, ...
    return code.startswith(LOST_SQLSTATE_CLASSES) or code in LOST_SQLSTATES


def describe(exc: BaseException) -> str:
    """The error on one line, for a log line or an operator's message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Attempt:
    """An execute wrapper counting the statements of one attempt that completed."""

    __slots__ = ("completed",)

    def __init__(self) -> None:
        self.completed = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        self.completed += 1
        return result


def _attempt(conn: Any, fn: Callable[[], T], label: str) -> tuple[bool, T | None, BaseException | None]:
    """(ok, result, lost-connection error that may be retried). Other errors propagate."""
    attempt = _Attempt()
    try:
        with conn.execute_wrapper(attempt):
            return True, fn(), None
    except (OperationalError, InterfaceError) as exc:
        if not connection_lost(exc):
            raise
        if attempt.completed:
            logger.warning("%s: database connection lost after %d statement(s) had completed; not retried "
                           "(the fences and the reaper recover it): %s", label, attempt.completed, describe(exc))
            raise
        return False, None, exc


def fresh_connection(wait: float, using: str = DEFAULT_DB_ALIAS) -> None:
    """Drop this thread's connection; wait up to `wait` s for the server to accept a new one."""
    conn = connections[using]
    try:
        conn.close()
    except DatabaseError:
        pass  # it is dead already
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.ensure_connection()
            return
        except (OperationalError, InterfaceError) as exc:
            if not connection_lost(exc) or time.monotonic() >= deadline:
                return  # the retry meets the error itself and reports it
            try:
                conn.close()
            except DatabaseError:
                pass
            time.sleep(POLL_SECONDS)


def retry_if_unchanged(fn: Callable[[], T], *, label: str, wait: float | None = None,
                       using: str = DEFAULT_DB_ALIAS) -> T:
    """Run `fn`; if the connection is lost before any statement of it completed, run it once more
    on a fresh connection (waiting up to `wait` s for one; the setting's default when None)."""
    conn = connections[using]
    if conn.in_atomic_block:
        return fn()
    ok, result, lost = _attempt(conn, fn, label)
    if ok:
        return result  # type: ignore[return-value]  # ok is True: result holds what fn returned
    wait = reconnect_wait_seconds() if wait is None else wait
    logger.warning("%s: database connection lost before anything changed; retrying once on a fresh "
                   "connection: %s", label, describe(lost))  # type: ignore[arg-type]  # not ok: lost is set
    fresh_connection(wait, using)
    ok, result, lost = _attempt(conn, fn, label)
    if ok:
        return result  # type: ignore[return-value]  # ok is True: result holds what fn returned
    assert lost is not None
    raise lost
