"""Captured queries as the statements they ran: a hot statement goes to PostgreSQL as an EXECUTE of
a statement prepared once per connection (pipeline_engine/runtime/prepared.py), whose text names
no table; tests that read SQL read what it stands for."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline_engine.runtime.prepared import statement_of


def statements(queries: Any) -> list[str]:
    """The SQL of each query a CaptureQueriesContext caught, prepared statements expanded."""
    return [statement_of(q["sql"]) for q in queries.captured_queries]


def each_statement(queries: Any) -> list[str]:
    """statements(), with a query of several statements (Writes sends a batch as one) split into
    them: a prepared statement's text holds no literal, so "; " only ever separates two."""
    return [part for sql in statements(queries) for part in sql.split("; ")]


def rows_read(table: str) -> int:
    """Rows of `table` this transaction has read so far, by scans and through indexes (PostgreSQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                       "FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        return int(cursor.fetchone()[0])


def seq_scans_in_kept_plans(names: Iterable[str], tables: Iterable[str]) -> dict[str, str]:
    """{name: plan} of the statements prepared on this connection under `names` whose generic plan
    (the one PostgreSQL keeps after five executions) scans one of `tables` whole. Read with
    EXPLAIN EXECUTE under `plan_cache_mode = force_generic_plan`, set for the test's transaction."""
    from django.db import connection

    found = {}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for name in names:
            cursor.execute("SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = %s", [name])
            count = cursor.fetchone()[0]
            cursor.execute(f"EXPLAIN EXECUTE {name}" + (f" ({', '.join(['NULL'] * count)})" if count else ""))
            plan = "\n".join(row[0] for row in cursor.fetchall())
            if any(f"Seq Scan on {table}" in plan for table in tables):
                found[name] = plan
    return found
