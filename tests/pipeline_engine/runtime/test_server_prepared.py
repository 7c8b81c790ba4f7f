"""Hot statements prepared once per PostgreSQL connection (runtime/prepared.py: execute_prepared).

What must hold: the rows and row counts are those of the statement sent as text; a connection
prepares a shape once and then only executes it; a new connection, a statement gone from the
server, a failed call and a shape the server cannot type all end in a working call, never in a
wrong one; SQLite and SOPS_DB_PREPARE off send the text as before.
"""
from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from access_app.models import Business
from pipeline_engine.runtime import prepared

pg_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="server-side PREPARE is PostgreSQL's")
_TABLE = Business._meta.db_table
# A literal `%` in the SQL is written `%%`, as Django writes it for the driver.
_BY_ID = f'SELECT "bk_biz_id", "name" FROM "{_TABLE}" WHERE "bk_biz_id" = %s AND "name" LIKE %s AND "name" NOT LIKE \'zz%%\''


def _rows(sql: str, params: list) -> tuple[list, list[str]]:
    """The rows execute_prepared gives, and the text that went to the server."""
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        prepared.execute_prepared(cursor, sql, params)
        rows = cursor.fetchall()
    return rows, [q["sql"] for q in queries.captured_queries]


def _server_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'sops_p%%'")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def shapes():
    """The test starts on a connection that has prepared nothing (the tests run outside a test
    transaction, so the connection can be closed)."""
    connection.close()
    yield
    connection.close()


@pg_only
@pytest.mark.django_db(transaction=True)
def test_a_shape_is_prepared_once_per_connection_then_only_executed(shapes):
    Business.objects.create(bk_biz_id=81, name="a%b")
    Business.objects.create(bk_biz_id=82, name="c")
    first, sent_first = _rows(_BY_ID, [81, "a%%"])  # `%` in a value, as well as in the SQL
    second, sent_second = _rows(_BY_ID, [82, "%"])
    third, sent_third = _rows(_BY_ID, [82, "x%"])
    assert first == [(81, "a%b")] and second == [(82, "c")] and third == []  # each call's own values
    assert sent_first[0].startswith("PREPARE sops_p") and "; EXECUTE sops_p" in sent_first[0]
    assert sent_second[0].startswith("EXECUTE sops_p") and sent_third[0].split()[:2] == sent_second[0].split()[:2]
    assert any('"bk_biz_id" = $1 AND "name" LIKE $2' in s for s in _server_statements())
    assert prepared.statement_of(sent_second[0]) == _BY_ID.replace("%s", "$1", 1).replace("%s", "$2").replace("%%", "%")


@pytest.mark.django_db(transaction=True)
def test_the_same_rows_as_the_text_with_preparing_off_and_on_sqlite(settings, shapes):
    Business.objects.create(bk_biz_id=83, name="d")
    settings.SOPS_DB_PREPARE = False
    rows, sent = _rows(_BY_ID, [83, "d"])
    assert rows == [(83, "d")] and not sent[0].startswith(("PREPARE", "EXECUTE"))
    settings.SOPS_DB_PREPARE = True
    rows_on, sent_on = _rows(_BY_ID, [83, "d"])
    assert rows_on == rows
    assert sent_on[0].startswith("PREPARE") == (connection.vendor == "postgresql")


@pg_only
@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again(shapes):
    Business.objects.create(bk_biz_id=84, name="e")
    _rows(_BY_ID, [84, "e"])
    assert _rows(_BY_ID, [84, "e"])[1][0].startswith("EXECUTE")
    connection.close()  # a restart, or CONN_MAX_AGE: the server's statements died with the session
    with transaction.atomic():
        Business.objects.create(bk_biz_id=85, name="f")
        rows, sent = _rows(_BY_ID, [85, "f"])
    assert rows == [(85, "f")] and sent[0].startswith("PREPARE")


@pytest.mark.django_db(transaction=True)
@pg_only
def test_a_statement_gone_from_the_server_fails_once_then_is_prepared_again(shapes):
    Business.objects.create(bk_biz_id=86, name="g")
    _rows(_BY_ID, [86, "g"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's DISCARD ALL does behind the client's back
    with pytest.raises(DatabaseError, match="does not exist"):
        _rows(_BY_ID, [86, "g"])
    rows, sent = _rows(_BY_ID, [86, "g"])
    assert rows == [(86, "g")] and sent[0].startswith("PREPARE")


@pytest.mark.django_db(transaction=True)
@pg_only
def test_a_failed_first_call_prepares_under_a_new_name_next_time(shapes):
    insert = f'INSERT INTO "{_TABLE}" ("bk_biz_id", "name", "time_zone", "created_at") VALUES (%s, %s, %s, now())'
    Business.objects.create(bk_biz_id=87, name="h")
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        prepared.execute_prepared(cursor, insert, [87, "dup", "UTC"])  # prepared, then its EXECUTE failed
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        prepared.execute_prepared(cursor, insert, [88, "i", "UTC"])
        assert cursor.rowcount == 1
    sent = queries.captured_queries[0]["sql"]
    assert sent.startswith("PREPARE") and sent.split()[1].endswith("_2")  # not the name the failure may have left
    assert Business.objects.filter(bk_biz_id__in=[87, 88]).count() == 2


@pytest.mark.django_db(transaction=True)
@pg_only
def test_a_shape_the_server_cannot_type_fails_once_then_goes_as_text(shapes):
    untyped = f'SELECT "bk_biz_id" FROM "{_TABLE}" WHERE %s IS NULL OR "bk_biz_id" = %s'
    Business.objects.create(bk_biz_id=89, name="j")
    with pytest.raises(DatabaseError, match="could not determine data type"):
        _rows(untyped, [None, 89])
    rows, sent = _rows(untyped, [None, 89])
    assert rows == [(89,)] and sent[0].startswith("SELECT")


@pg_only
@pytest.mark.django_db(transaction=True)
def test_many_statements_go_as_one_query_with_the_last_ones_row_count(shapes):
    a = Business.objects.create(bk_biz_id=90, name="k")
    b = Business.objects.create(bk_biz_id=91, name="l")
    update = f'UPDATE "{_TABLE}" SET "name" = %s WHERE "id" = %s'
    count = f'SELECT count(*) FROM "{_TABLE}" WHERE "name" = %s'
    for round_ in (1, 2):
        with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
            prepared.execute_prepared_many(cursor, [(update, [f"m{round_}", a.pk]), (update, [f"m{round_}", b.pk]),
                                                    (count, [f"m{round_}"])])
            assert cursor.fetchall() == [(2,)]
        (sent,) = [q["sql"] for q in queries.captured_queries]
        # The UPDATE's shape is prepared once though it runs twice; the second round only executes.
        assert sent.count("PREPARE ") == (2 if round_ == 1 else 0) and sent.count("EXECUTE ") == 3
        assert prepared.statement_of(sent).split("; ")[0].startswith(f'UPDATE "{_TABLE}" SET "name" = $1')
    with connection.cursor() as cursor:
        prepared.execute_prepared_many(cursor, [(count, ["m2"]), (update, ["n", a.pk])])
        assert cursor.rowcount == 1  # an UPDATE's count comes back through its EXECUTE


@pg_only
@pytest.mark.django_db(transaction=True)
def test_past_the_shape_limit_statements_go_as_text(monkeypatch, shapes):
    Business.objects.create(bk_biz_id=92, name="o")
    monkeypatch.setattr(prepared, "MAX_SHAPES", len(prepared._shape_numbers))
    rows, sent = _rows(f'SELECT "bk_biz_id" FROM "{_TABLE}" WHERE "bk_biz_id" = %s /* new */', [92])
    assert rows == [(92,)] and sent[0].startswith("SELECT")


def test_statement_of_leaves_other_text_as_it_is():
    assert prepared.statement_of("SELECT 1") == "SELECT 1"
    assert prepared.statement_of("SAVEPOINT x") == "SAVEPOINT x"
