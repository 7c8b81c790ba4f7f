"""pipeline_engine.runtime.db_retry: a lost connection is retried once if nothing changed, never otherwise.

The faults are real and confined to the test's own session (tests/faults/db_outage.py): the server
ends this session (as a restart does), or connects are refused (as while it is down).
"""
from __future__ import annotations

import logging
import time

import pytest
from django.db import OperationalError, connection, transaction

from pipeline_engine.runtime import db_retry
from tests.faults.db_outage import kill_own_backend, own_backend_pid, require_postgresql, unreachable_database

pytestmark = pytest.mark.django_db(transaction=True)


def business_count() -> int:
    from access_app.models import Business

    return Business.objects.count()


def test_a_read_whose_connection_was_lost_runs_again_on_a_fresh_one(caplog: pytest.LogCaptureFixture) -> None:
    require_postgresql()
    dead = kill_own_backend()
    attempts: list[int] = []

    def read() -> int:
        attempts.append(1)
        return own_backend_pid()

    with caplog.at_level(logging.WARNING, logger="pipeline_engine.db"):
        pid = db_retry.retry_if_unchanged(read, label="test read")
    assert len(attempts) == 2 and pid != dead
    assert "test read: database connection lost before anything changed; retrying once" in caplog.text


def test_a_step_whose_first_statement_fails_runs_again() -> None:
    """The engine's case: the transaction's first statement (the run lock) meets the dead connection."""
    require_postgresql()
    from access_app.models import Business

    before = business_count()
    kill_own_backend()
    attempts: list[int] = []

    def step() -> None:
        attempts.append(1)
        with transaction.atomic():
            list(Business.objects.select_for_update().all())
            Business.objects.create(bk_biz_id=901, name="written once")

    db_retry.retry_if_unchanged(step, label="test step")
    assert len(attempts) == 2
    assert business_count() == before + 1


def test_a_failure_after_a_write_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    """An autocommit write completed, then the connection died: running again could write twice."""
    require_postgresql()
    from access_app.models import Business

    before = business_count()
    attempts: list[int] = []

    def write_then_read() -> int:
        attempts.append(1)
        Business.objects.create(bk_biz_id=902, name="written")
        kill_own_backend()
        return business_count()

    with caplog.at_level(logging.WARNING, logger="pipeline_engine.db"), pytest.raises(OperationalError):
        db_retry.retry_if_unchanged(write_then_read, label="test write")
    assert len(attempts) == 1
    assert "test write: database connection lost after 1 statement(s) had completed; not retried" in caplog.text
    connection.close()
    assert business_count() == before + 1  # written once, not twice


def test_a_transaction_cut_after_its_writes_is_not_retried() -> None:
    """Cut before COMMIT the transaction left nothing, but the rule does not look inside: not retried."""
    require_postgresql()
    from access_app.models import Business

    before = business_count()
    attempts: list[int] = []

    def step() -> None:
        attempts.append(1)
        with transaction.atomic():
            Business.objects.create(bk_biz_id=903, name="rolled back")
            kill_own_backend()
            Business.objects.create(bk_biz_id=904, name="never")

    with pytest.raises(OperationalError):
        db_retry.retry_if_unchanged(step, label="test cut step")
    assert len(attempts) == 1
    connection.close()
    assert business_count() == before


def test_inside_a_callers_transaction_nothing_is_retried() -> None:
    require_postgresql()
    attempts: list[int] = []

    def read() -> int:
        attempts.append(1)
        return own_backend_pid()

    with pytest.raises(OperationalError), transaction.atomic():
        kill_own_backend()
        db_retry.retry_if_unchanged(read, label="nested")
    assert len(attempts) == 1
    connection.close()


def test_an_error_of_the_statement_is_not_a_lost_connection() -> None:
    """A cancelled statement (statement_timeout) is an OperationalError too, but the session is fine."""
    require_postgresql()
    attempts: list[int] = []

    def slow() -> None:
        attempts.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 10")
            try:
                cursor.execute("SELECT pg_sleep(1)")
            finally:
                cursor.execute("SET statement_timeout = 0")

    with pytest.raises(OperationalError) as caught:
        db_retry.retry_if_unchanged(slow, label="slow")
    assert len(attempts) == 1
    assert not db_retry.connection_lost(caught.value)


def test_a_refused_connect_is_retried_once_the_server_is_back() -> None:
    """A worker's wait: connects are refused for 0.5 s, then the server accepts again."""
    require_postgresql()
    attempts: list[int] = []

    def read() -> int:
        attempts.append(1)
        return own_backend_pid()

    with unreachable_database() as outage:
        outage.end_after(0.5)
        started = time.monotonic()
        assert db_retry.retry_if_unchanged(read, label="waiting read", wait=10) > 0
        waited = time.monotonic() - started
    assert len(attempts) == 2
    assert 0.4 < waited < 5, waited


def test_without_wait_a_server_still_down_is_reported_at_once() -> None:
    require_postgresql()
    attempts: list[int] = []

    def read() -> int:
        attempts.append(1)
        return own_backend_pid()

    with unreachable_database():
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught:
            db_retry.retry_if_unchanged(read, label="web read", wait=0)
        assert time.monotonic() - started < 2
    assert db_retry.connection_lost(caught.value)
    assert len(attempts) == 2
    assert "Connection refused" in db_retry.describe(caught.value)
    assert "\n" not in db_retry.describe(caught.value)


def test_sqlite_errors_are_never_a_lost_connection() -> None:
    import sqlite3

    try:
        raise OperationalError("database is locked") from sqlite3.OperationalError("database is locked")
    except OperationalError as exc:
        assert not db_retry.connection_lost(exc)
