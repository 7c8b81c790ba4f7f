"""Every index on a table written for each task earns its keep: each INSERT, and each UPDATE that
changes an indexed column, writes an entry in every index of the table."""
from __future__ import annotations

import pytest
from django.db import connection

from pipeline_engine.runtime.models import NodeHistory, NodeLog, NodeState, Run
from tasks_app.models import TaskInstance, TaskOperation

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's catalog")]

WRITTEN_PER_TASK = [m._meta.db_table for m in (TaskInstance, TaskOperation, Run, NodeState, NodeLog, NodeHistory)]


def _indexes(table: str) -> list[tuple[str, tuple[int, ...], bool, bool, str]]:
    """(name, column numbers, unique, partial, definition) of each index of `table`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indkey::text, i.indisunique, i.indpred IS NOT NULL, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass", [table])
        return [(name, tuple(int(k) for k in keys.split()), unique, partial, definition)
                for name, keys, unique, partial, definition in cursor.fetchall()]


@pytest.mark.parametrize("table", WRITTEN_PER_TASK)
def test_no_index_serves_only_like_searches(table):
    """db_index on a text column (and a text primary key) also makes a varchar_pattern_ops index
    on PostgreSQL, for LIKE 'prefix%'; no query of the service searches these tables so."""
    assert [name for name, *_, definition in _indexes(table) if "pattern_ops" in definition] == []


@pytest.mark.parametrize("table", WRITTEN_PER_TASK)
def test_no_index_is_the_leading_columns_of_another(table):
    """A plain index on (a) is served by an index on (a, b) as well: a foreign key's own index is
    redundant where a composite index begins with it."""
    found = _indexes(table)
    redundant = [
        (name, other) for name, cols, unique, partial, _ in found if not unique and not partial and 0 not in cols
        for other, other_cols, *_ in found if other != name and other_cols[:len(cols)] == cols
    ]
    assert redundant == []


def test_the_indexes_the_reads_need_are_there():
    """The negative checks above must not pass by an index gone missing that a read relies on."""
    def columns(table: str) -> set[tuple[str, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
                "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = %s::regclass GROUP BY i.indexrelid", [table])
            return {tuple(row[0]) for row in cursor.fetchall()}

    tasks = columns(TaskInstance._meta.db_table)
    assert ("run_id",) in tasks  # the run's end finds its task
    assert any(cols[0] == "business_id" for cols in tasks)  # a business's tasks; its PROTECT on delete
    assert ("task_id", "node_id") in columns(TaskOperation._meta.db_table)  # a task's audit log
    assert ("state",) in columns(Run._meta.db_table)  # the admin's filter of runs by state
