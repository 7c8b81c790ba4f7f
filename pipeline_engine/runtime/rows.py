"""The engine's rows: every statement the runtime runs on its tables, and the conversion
between rows and the core's records (NodeRecord, RunData).

The hot statements (the run's lock, node inserts and updates, the run update,
the component claim) are written in plain SQL, their text built once per
process and database vendor: building them through the ORM cost more CPU than
the walk of a small run. The sweep's and the runner's occasional statements
stay ORM queries. The readers' queries (status trees, details, summaries) are
runtime.queries'.
"""
from __future__ import annotations

import functools
import io
import itertools
import json
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pipeline_engine.core import jsontext
from pipeline_engine.core import states as s
from pipeline_engine.core.components import node_log
from pipeline_engine.core.components.node_log import LogEntry
from pipeline_engine.core.records import NODE_FIELDS, NodeRecord, RunData
from pipeline_engine.errors import RunNotFound

from .models import NodeHistory, NodeLog, NodeState, Run
from .prepared import execute_prepared, execute_prepared_many

RECORD_FIELDS = ("key", "scope", "node_id", "node_type", "component_code", "name", *NODE_FIELDS)
_RECORD_SET = frozenset(RECORD_FIELDS)
_EMPTY_JSON = "{}"
_INSERT_BATCH = 1000
# A timer message may arrive a little before its wake-up time.
EARLY_TOLERANCE = timedelta(seconds=1)


# --------------------------------------------------------------------------- values
def _iso_datetime(value: datetime) -> Any:
    if value.tzinfo is None:  # not expected (USE_TZ); let Django decide
        return connection.ops.adapt_datetimefield_value(value)
    return value.isoformat()


def datetime_adapter() -> Callable[[datetime], Any]:
    """How raw SQL of the engine passes datetimes.

    On PostgreSQL an aware datetime goes as ISO text, which the timestamptz
    column parses: psycopg2's datetime adapter cost ~4 us a value, about as
    much as all other columns of a node row together.
    """
    if connection.vendor == "postgresql":
        return _iso_datetime
    return connection.ops.adapt_datetimefield_value


def _json_value(value: Any) -> Any:
    # The backends hand JSON columns of a raw cursor back as text (Django decodes
    # them in JSONField.from_db_value, which a raw cursor skips).
    return json.loads(value) if isinstance(value, str | bytes) else value


def _aware(value: Any) -> datetime | None:
    """A datetime column read through a raw cursor, as an aware datetime.

    SQLite hands back text or a naive datetime (UTC); PostgreSQL an aware one.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def _adapt_row(values: list[Any], kinds: list[str]) -> list[Any]:
    adapt = datetime_adapter()
    out = []
    for value, kind in zip(values, kinds, strict=True):
        if value is not None:
            if kind == "json":
                value = jsontext.dumps(value)
            elif kind == "datetime":
                value = adapt(value)
        out.append(value)
    return out


# --------------------------------------------------------------------------- node columns
_node_columns: list[tuple[str, str, str]] = []


def _columns() -> list[tuple[str, str, str]]:
    """(attribute, column, kind) of every NodeState column; kind says how to adapt values."""
    if not _node_columns:
        run_field = NodeState._meta.get_field("run")
        _node_columns.append((run_field.attname, run_field.column, "plain"))
        for f in NodeState._meta.concrete_fields:
            if f.primary_key or f is run_field:
                continue
            kind = ("json" if isinstance(f, models.JSONField)
                    else "datetime" if isinstance(f, models.DateTimeField) else "plain")
            _node_columns.append((f.attname, f.column, kind))
    return _node_columns


_returning: dict[str, str] = {}


def returning_columns() -> str:
    """The column list (id first) for a RETURNING that `record_from_values` reads."""
    columns = _returning.get(connection.vendor)
    if columns is None:
        quote = connection.ops.quote_name
        columns = _returning[connection.vendor] = ", ".join(
            ["id", *(quote(c) for a, c, _ in _columns() if a in _RECORD_SET)])
    return columns


_record_attrs: list[tuple[str, str]] = []


def record_from_values(values: tuple[Any, ...]) -> NodeRecord:
    """A NodeRecord from a row returned in `returning_columns()` order."""
    if not _record_attrs:
        _record_attrs.extend((a, k) for a, _, k in _columns() if a in _RECORD_SET)
    fields: dict[str, Any] = {"row_id": values[0]}
    for (attname, kind), value in zip(_record_attrs, values[1:], strict=True):
        if value is not None:
            if kind == "json" and isinstance(value, str | bytes):
                value = json.loads(value)
            elif kind == "datetime":
                value = _aware(value)
        fields[attname] = value
    for flag in ("skip", "error_ignored"):
        fields[flag] = bool(fields[flag])
    return NodeRecord(**fields)


# --------------------------------------------------------------------------- runs
_INSERT_RUN = (
    "INSERT INTO {table} (id, state, display_state, tree, context, frontier, outputs, meta, time_zone, "
    "executor, priority, created_at, started_at, finished_at, lease_until, steps) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)


def insert_run(run_id: str, tree_json: str, *, context: dict[str, Any], frontier: dict[str, Any],
               meta: dict[str, Any], time_zone: str, executor: str, priority: int, now: datetime,
               lease_until: datetime | None, state: str = s.RUNNING, display_state: str = s.RUNNING,
               outputs: dict[str, Any] | None = None, finished_at: datetime | None = None,
               steps: int = 0, nodes: list[NodeRecord] | None = None) -> bool:
    """INSERT the run row, and its first `nodes`; False (nothing written) when a run with this id
    exists already.

    ON CONFLICT DO NOTHING (PostgreSQL, SQLite >= 3.24) and the row count
    replace the ORM create in a SAVEPOINT that caught IntegrityError: that
    cost two more round trips and the ORM's compile on every start. The tree
    comes serialised (`tree_json`): its caller weighs the text too. A run whose first step was
    walked by its starter is inserted as that step left it (state, frontier,
    outputs, `steps` 1) with the node rows that step created.
    """
    sql, params = _run_values(run_id, tree_json, context=context, frontier=frontier, meta=meta,
                              time_zone=time_zone, executor=executor, priority=priority, now=now,
                              lease_until=lease_until, state=state, display_state=display_state, outputs=outputs,
                              finished_at=finished_at, steps=steps)
    if nodes and connection.vendor == "postgresql" and len(nodes) <= NODES_WITH_RUN:
        # One statement, one round trip: the node rows are inserted by the run's INSERT, and only
        # when it inserted the run (no row comes out of `run` on a conflict).
        with connection.cursor() as cursor:
            execute_prepared(cursor, f"WITH run AS ({sql} RETURNING id) {_json_insert_sql(run_from_cte=True)}",
                             [*params, node_rows_json(nodes)])
            return bool(cursor.rowcount == len(nodes))
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        inserted = bool(cursor.rowcount == 1)
    if inserted and nodes:
        insert_nodes(run_id, nodes)
    return inserted


def _run_values(run_id: str, tree_json: str, *, context: dict[str, Any], frontier: dict[str, Any],
                meta: dict[str, Any], time_zone: str, executor: str, priority: int, now: datetime,
                lease_until: datetime | None, state: str, display_state: str, outputs: dict[str, Any] | None,
                finished_at: datetime | None, steps: int) -> tuple[str, list[Any]]:
    """The run row's INSERT (ON CONFLICT DO NOTHING) and its parameters."""
    adapt = datetime_adapter()
    dumps = jsontext.dumps
    params = [
        run_id, state, display_state, tree_json, dumps(context), dumps(frontier),
        dumps(outputs) if outputs else _EMPTY_JSON, dumps(meta), time_zone, executor, priority, adapt(now),
        adapt(now), adapt(finished_at) if finished_at else None, adapt(lease_until) if lease_until else None,
        steps,
    ]
    return _INSERT_RUN.format(table=connection.ops.quote_name(Run._meta.db_table)), params


def run_statement(run_id: str, tree_json: str, *, nodes: list[NodeRecord],
                  **values: Any) -> tuple[str, list[Any]] | None:
    """insert_run's writes as one statement for a caller that sends it with writes of its own
    (step.start_run's `into`), or None where they are not one statement (not PostgreSQL, more
    than NODES_WITH_RUN nodes). An existing run with this id fails the statement (a unique
    violation), where insert_run answers False: the caller's other writes must not stand alone."""
    if connection.vendor != "postgresql" or len(nodes) > NODES_WITH_RUN:
        return None
    sql, params = _run_values(run_id, tree_json, **values)
    sql = sql.removesuffix(" ON CONFLICT (id) DO NOTHING")
    if not nodes:
        return sql, params
    return f"WITH run AS ({sql} RETURNING id) {_json_insert_sql(run_from_cte=True)}", [*params, node_rows_json(nodes)]


@dataclass(slots=True)
class RunRow:
    """The run row as a step reads it under the lock (no model instance: see lock_run)."""

    id: str
    state: str
    frontier: dict[str, Any]
    context: dict[str, Any]
    outputs: dict[str, Any]
    meta: dict[str, Any]
    time_zone: str
    executor: str
    started_at: datetime | None
    finished_at: datetime | None
    lease_until: datetime | None
    tree_json: str | None = None  # the tree's JSON text, when asked for

    def data(self) -> RunData:
        """What the walker reads and changes of this run."""
        return RunData(run_id=self.id, state=self.state, frontier=self.frontier, context=self.context,
                       outputs=self.outputs, time_zone=self.time_zone, executor=self.executor,
                       started_at=self.started_at, finished_at=self.finished_at)


_RUN_LOCK_COLUMNS = ("id", "state", "frontier", "context", "outputs", "meta", "time_zone", "executor",
                     "started_at", "finished_at", "lease_until")
_lock_sql: dict[tuple[str, bool], str] = {}


def lock_run(run_id: str, *, with_tree: bool) -> RunRow:
    """`SELECT ... FOR UPDATE` of the run row in plain SQL.

    This is the first statement of every step; building it through the ORM
    (queryset clone, defer mask, compiler) cost more CPU than the walk of a
    small run. The big tree column is read only by a process that has not
    compiled the tree yet. On SQLite the IMMEDIATE transaction is the lock.
    """
    vendor = connection.vendor
    sql = _lock_sql.get((vendor, with_tree))
    if sql is None:
        quote = connection.ops.quote_name
        columns = [quote(c) for c in _RUN_LOCK_COLUMNS] + ([_tree_text()] if with_tree else [])
        sql = (f"SELECT {', '.join(columns)} FROM {quote(Run._meta.db_table)} "
               f"WHERE {quote('id')} = %s")
        if connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        _lock_sql[(vendor, with_tree)] = sql
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, [run_id])
        row = cursor.fetchone()
    if row is None:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    return RunRow(
        id=row[0], state=row[1], frontier=_json_value(row[2]) or {}, context=_json_value(row[3]) or {},
        outputs=_json_value(row[4]) or {}, meta=_json_value(row[5]) or {}, time_zone=row[6],
        executor=row[7], started_at=_aware(row[8]), finished_at=_aware(row[9]), lease_until=_aware(row[10]),
        tree_json=row[11] if with_tree else None,
    )


def update_run(run_id: str, data: RunData, display_state: str, lease: datetime | None) -> None:
    sql, params = _update_run_statement(run_id, data, display_state, lease)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _update_run_statement(run_id: str, data: RunData, display_state: str,
                          lease: datetime | None) -> tuple[str, list[Any]]:
    adapt = datetime_adapter()
    sql = (f"UPDATE {Run._meta.db_table} SET state = %s, display_state = %s, frontier = %s, "
           f"context = %s, outputs = %s, finished_at = %s, lease_until = %s, steps = steps + 1 WHERE id = %s")
    return sql, [
        data.state, display_state, jsontext.dumps(data.frontier), jsontext.dumps(data.context),
        jsontext.dumps(data.outputs), adapt(data.finished_at) if data.finished_at else None,
        adapt(lease) if lease else None, run_id,
    ]


def _tree_text() -> str:
    """The tree column as text. PostgreSQL's `json` column would be decoded by psycopg2;
    its text is what tree_cache weighs and decodes (elsewhere the column is text already)."""
    column = connection.ops.quote_name("tree")
    return f"{column}::text" if connection.vendor == "postgresql" else column


def load_tree_json(run_id: str) -> str:
    """The run's web tree as it was started, as JSON text (plain SQL, as lock_run: a worker's
    first read of a run)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_tree_text()} FROM {quote(Run._meta.db_table)} WHERE {quote('id')} = %s", [run_id])
        row = cursor.fetchone()
    if row is None:
        raise Run.DoesNotExist(f"pipeline({run_id}) does not exist")
    return str(row[0])


def run_locale(run_id: str) -> tuple[str, str]:
    """(time zone, executor) of a run."""
    time_zone, executor = Run.objects.values_list("time_zone", "executor").get(pk=run_id)
    return time_zone, executor


# --------------------------------------------------------------------------- nodes
_values_plan: list[tuple[Callable[[Any], tuple[Any, ...]], list[int], list[int]]] = []


def _node_values_plan() -> tuple[Callable[[Any], tuple[Any, ...]], list[int], list[int]]:
    """(record getter of every column but run_id, json positions, datetime positions)."""
    if not _values_plan:
        columns = [(a, k) for a, _, k in _columns() if a != "run_id"]
        _values_plan.append((operator.attrgetter(*[a for a, _ in columns]),
                             [i for i, (_, k) in enumerate(columns) if k == "json"],
                             [i for i, (_, k) in enumerate(columns) if k == "datetime"]))
    return _values_plan[0]


_insert_statement: dict[str, str] = {}


def _insert_sql() -> str:
    """The one-row INSERT that executemany repeats where there is no COPY (SQLite)."""
    sql = _insert_statement.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        columns = _columns()
        sql = _insert_statement[connection.vendor] = (
            f"INSERT INTO {quote(NodeState._meta.db_table)} ({', '.join(quote(c) for _, c, _ in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})")
    return sql


# Up to this many node rows go in one statement as a JSON array (json_populate_recordset):
# with the run's INSERT at a start, with the run's UPDATE after a step. COPY needs a
# statement and two round trips of its own. On loopback the two ways take about the same
# wall time for a few rows (12 rows with the run: 0.91 ms by JSON, 0.87 ms by INSERT and
# COPY): the JSON saves the client's system calls and waits, PostgreSQL parses more. For a
# thousand rows the JSON costs clearly more (a 1,000-node start: COPY).
NODES_WITH_RUN = 200
_json_plan: list[list[tuple[str, str, str]]] = []


def _json_columns() -> list[tuple[str, str, str]]:
    """(attribute, column, kind) of the node columns a record gives (all but run_id)."""
    if not _json_plan:
        _json_plan.append([c for c in _columns() if c[0] != "run_id"])
    return _json_plan[0]


def node_rows_json(records: list[NodeRecord], *, changed_only: bool = False) -> str:
    """Node records as a JSON array of objects keyed by column, for json_populate_recordset.

    JSON fields go as JSON (PostgreSQL takes a value of a jsonb column as it is), datetimes
    as ISO text, None as null (SQL NULL). `changed_only`: each row's id and the fields a step
    changes (NODE_FIELDS), for an UPDATE; otherwise every column of a new row but run_id."""
    columns = _changed_columns() if changed_only else _json_columns()
    adapt = datetime_adapter()
    out = []
    for rec in records:
        row: dict[str, Any] = {"id": rec.row_id} if changed_only else {}
        for attname, column, kind in columns:
            value = getattr(rec, attname)
            if kind == "datetime" and value is not None:
                value = adapt(value)
            row[column] = value
        out.append(row)
    return jsontext.dumps(out)


def _changed_columns() -> list[tuple[str, str, str]]:
    """(attribute, column, kind) of the node columns a step changes (NODE_FIELDS)."""
    if len(_json_plan) < 2:
        _json_columns()
        by_attr = {c[0]: c for c in _columns()}
        _json_plan.append([by_attr[a] for a in NODE_FIELDS])
    return _json_plan[1]


_from_json_sql: dict[str, str] = {}


def _json_insert_sql(*, run_from_cte: bool = False) -> str:
    """INSERT of node rows from a JSON array (node_rows_json, the last parameter) for a run id given
    as the first parameter, or (`run_from_cte`) for the id a `run` CTE returns, if it returns one."""
    key = f"insert:{run_from_cte}"
    sql = _from_json_sql.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        table = quote(NodeState._meta.db_table)
        names = [quote(c) for _, c, _ in _json_columns()]
        run_id, source = ("run.id", "run, ") if run_from_cte else ("%s", "")
        sql = _from_json_sql[key] = (
            f"INSERT INTO {table} ({quote(_columns()[0][1])}, {', '.join(names)}) "
            f"SELECT {run_id}, {', '.join(f'j.{n}' for n in names)} "
            f"FROM {source}json_populate_recordset(NULL::{table}, %s) WITH ORDINALITY AS j ORDER BY j.ordinality")
    return sql


def _json_update_sql() -> str:
    """UPDATE of the changed fields of one run's node rows, by id, from a JSON array (the
    parameters: the array, the run id).

    The run id is there for the plan, not for the rows (the ids name them). The statement is
    prepared once per connection (runtime/prepared.py), and PostgreSQL keeps the plan it made
    then for the connection's life (up to CONN_MAX_AGE, a minute): made while the table was
    small, with the ids alone, that plan was a hash join over a scan of the whole node table,
    which every step repeated as the table grew (22,000 rows after ten seconds of the locust
    loop). With the run's id, the plan reads the run's rows by the (run, key) index, whatever
    the table's size when it was made."""
    sql = _from_json_sql.get("update")
    if sql is None:
        quote = connection.ops.quote_name
        table = quote(NodeState._meta.db_table)
        sets = ", ".join(f"{quote(c)} = j.{quote(c)}" for _, c, _ in _changed_columns())
        sql = _from_json_sql["update"] = (
            f"UPDATE {table} AS n SET {sets} FROM json_populate_recordset(NULL::{table}, %s) AS j "
            f"WHERE n.id = j.id AND n.run_id = %s")
    return sql


def save_step(run_id: str, created: list[NodeRecord], updated: list[NodeRecord],
              run: tuple[RunData, str, datetime | None] | None,
              then: tuple[str, list[Any]] | None = None, *, logs: list[LogEntry] | None = None,
              along: list[tuple[str, list[Any]]] | None = None) -> bool:
    """Write what a step changed: its components' log lines (`logs`, as append_logs takes them),
    the caller's statements whose results nobody reads (`along`), its new node rows, its changed
    ones, and the run row (`run`: its data, display state and lease; None when the run row did
    not change), then `then`, a statement of the caller's (the end of the run recorded above the
    engine); whether `then` changed a row.

    On PostgreSQL these go as one query, one round trip, where they were three statements
    and four round trips (COPY takes two), plus one per changed row beyond the first:
    node rows go as JSON arrays (json_populate_recordset), up to NODES_WITH_RUN of each;
    more new rows go by COPY first. Elsewhere each goes as its own statement, as before."""
    if connection.vendor != "postgresql":
        if logs:
            append_logs(run_id, logs)
        if along:
            with connection.cursor() as cursor:
                for statement in along:
                    cursor.execute(*statement)
        if created:
            insert_nodes(run_id, created)
        if updated:
            update_nodes(updated)
        if run is not None:
            update_run(run_id, *run)
        if then is None:
            return False
        with connection.cursor() as cursor:
            cursor.execute(*then)
            return bool(cursor.rowcount > 0)
    statements: list[tuple[str, list[Any]]] = log_statements(run_id, logs) if logs else []
    if along:
        statements += along
    if len(created) > NODES_WITH_RUN:
        insert_nodes(run_id, created)
    elif created:
        statements.append((_json_insert_sql(), [run_id, node_rows_json(created)]))
    if updated:
        statements.append((_json_update_sql(), [node_rows_json(updated, changed_only=True), run_id]))
    if run is not None:
        statements.append(_update_run_statement(run_id, *run))
    if then is not None:  # last: the query's row count is its own
        statements.append(then)
    if not statements:
        return False
    with connection.cursor() as cursor:
        execute_prepared_many(cursor, statements)
        return then is not None and cursor.rowcount > 0


def _node_values(records: list[NodeRecord]) -> list[list[Any]]:
    """Each record's column values but run_id, as the backend takes them (JSON as text)."""
    get, json_at, dt_at = _node_values_plan()
    adapt = datetime_adapter()
    dumps = jsontext.dumps
    rows = []
    for rec in records:
        row = list(get(rec))
        for i in json_at:
            value = row[i]
            if value is not None:
                # Most JSON fields of a new node are empty: skip the encoder for them.
                row[i] = _EMPTY_JSON if value == {} else dumps(value)
        for i in dt_at:
            if row[i] is not None:
                row[i] = adapt(row[i])
        rows.append(row)
    return rows


def insert_nodes(run_id: str, records: list[NodeRecord]) -> None:
    """Insert new node rows in one statement (PostgreSQL's COPY; executemany elsewhere).

    Django's bulk_create prepares every value through the field machinery,
    which costs more than the walk itself for big trees; node rows have a
    fixed, known shape, so they are adapted here directly.
    """
    if connection.vendor == "postgresql":
        _copy_in(_copy_sql(), _node_copy_text(run_id, records))
        return
    rows = [(run_id, *row) for row in _node_values(records)]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_BATCH):
            cursor.executemany(_insert_sql(), rows[start:start + _INSERT_BATCH])


# COPY's text format: a row per line, columns split by tabs, \N for NULL, and a
# backslash escape for the four characters that would break that layout.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value).translate(_COPY_ESCAPES)


@dataclass(frozen=True)
class _CopyPlan:
    """Where the kinds of value _node_values_plan does not adapt sit in a node row (every column
    but run_id): integers, booleans and text that may be NULL, for COPY text."""

    int_at: tuple[int, ...]
    bool_at: tuple[int, ...]
    nullable_text_at: tuple[int, ...]


_copy_plan: list[_CopyPlan] = []


def _node_copy_plan() -> _CopyPlan:
    if not _copy_plan:
        fields: list[Any] = [NodeState._meta.get_field(attname) for attname, _, _ in _columns() if attname != "run_id"]
        _copy_plan.append(_CopyPlan(
            int_at=tuple(i for i, f in enumerate(fields) if isinstance(f, models.IntegerField)),
            bool_at=tuple(i for i, f in enumerate(fields) if isinstance(f, models.BooleanField)),
            nullable_text_at=tuple(i for i, f in enumerate(fields)
                                   if f.null and isinstance(f, models.CharField | models.TextField))))
    return _copy_plan[0]


def _node_copy_text(run_id: str, records: list[NodeRecord]) -> str:
    """New node rows as COPY text data, each value formatted by its column's kind.

    A third faster than building rows of values for copy_text (5.2 ms against 7.7 ms for 1,000
    rows): no value is tested for its type, and the characters COPY must escape are looked for
    once in the whole text, by counting (_unescaped_copy_text). Where that finds one, or a text
    column holds something that is not text, the rows go through copy_text, which escapes value
    by value."""
    text = _unescaped_copy_text(run_id, records)
    if text is not None:
        return text
    return copy_text([(run_id, *row) for row in _node_values(records)])


def _unescaped_copy_text(run_id: str, records: list[NodeRecord]) -> str | None:
    """The rows' COPY text with nothing escaped, or None when something would need escaping.

    With nothing to escape, the text holds exactly one tab per column gap, one newline per
    row, one backslash per NULL and no carriage return; a value holding any of those
    characters raises a count."""
    get, json_at, dt_at = _node_values_plan()
    plan = _node_copy_plan()
    dumps, adapt = jsontext.dumps, datetime_adapter()
    tabs_per_line = len(_columns()) - 1
    lines = []
    nulls = 0
    for rec in records:
        row: list[Any] = list(get(rec))
        nulls += row.count(None)
        for i in json_at:
            value = row[i]
            # Most JSON fields of a new node are empty: skip the encoder for them.
            row[i] = "\\N" if value is None else _EMPTY_JSON if value == {} else dumps(value)
        for i in dt_at:
            value = row[i]
            row[i] = "\\N" if value is None else str(adapt(value))
        for i in plan.int_at:
            row[i] = str(row[i])
        for i in plan.bool_at:
            row[i] = "t" if row[i] else "f"
        for i in plan.nullable_text_at:
            if row[i] is None:
                row[i] = "\\N"
        try:
            lines.append(run_id + "\t" + "\t".join(row))
        except TypeError:  # a text column holding a number, say: copy_text writes str() of it
            return None
    lines.append("")
    text = "\n".join(lines)
    if (text.count("\\") == nulls and text.count("\t") == tabs_per_line * len(records)
            and text.count("\n") == len(records) and "\r" not in text):
        return text
    return None


def copy_text(rows: list[tuple[Any, ...]]) -> str:
    """Rows of str / int / bool / None (JSON and datetimes already text) as COPY text data."""
    lines = []
    for row in rows:
        # Almost no row has a character to escape: one scan of its text values tells,
        # which costs less than escaping each value (a row has ~30).
        if _COPY_SPECIAL.search("".join([v for v in row if v.__class__ is str])):
            lines.append("\t".join([_copy_value(v) for v in row]))
        else:
            lines.append("\t".join(["\\N" if v is None else ("t" if v else "f") if v is True or v is False
                                    else str(v) for v in row]))
    lines.append("")
    return "\n".join(lines)


_copy_statement: list[str] = []


def _copy_sql() -> str:
    if not _copy_statement:
        quote = connection.ops.quote_name
        _copy_statement.append(f"COPY {quote(NodeState._meta.db_table)} "
                               f"({', '.join(quote(c) for _, c, _ in _columns())}) FROM STDIN")
    return _copy_statement[0]


def _copy_in(sql: str, data: str) -> None:
    """COPY ... FROM STDIN as one statement of this connection, seen like any other.

    A 1,000-row multi-VALUES INSERT cost PostgreSQL ~80 ms to parse; the same
    rows by COPY ~13 ms, and COPY is no slower at 5 rows. psycopg2 runs it
    outside cursor.execute, so it is passed through the connection's execute
    wrappers (db_retry counts it as a completed statement; the bench counts it)
    and its errors are turned into Django's, as for every other statement.
    The test client's query log sees it too.
    """
    with connection.cursor() as wrapper:
        raw = wrapper.cursor

        def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
            with connection.wrap_database_errors:
                raw.copy_expert(sql, io.StringIO(data))

        executor: Callable[..., None] = execute
        for wrap in reversed(connection.execute_wrappers):
            executor = functools.partial(wrap, executor)
        started = time.monotonic()
        executor(sql, None, False, {"connection": connection, "cursor": wrapper})
        if connection.queries_logged:
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})


_update_plan: dict[str, tuple[str, list[str]]] = {}
_node_fields_getter = operator.attrgetter(*NODE_FIELDS)


def update_nodes(records: list[NodeRecord]) -> None:
    """Write every mutable field of existing node rows (one UPDATE per row, no ORM compile)."""
    plan = _update_plan.get(connection.vendor)
    if plan is None:
        kinds_by_attr = {a: k for a, _, k in _columns()}
        quote = connection.ops.quote_name
        plan = _update_plan[connection.vendor] = (
            f"UPDATE {quote(NodeState._meta.db_table)} SET "
            f"{', '.join(f'{quote(f)} = %s' for f in NODE_FIELDS)} WHERE id = %s",
            [kinds_by_attr[f] for f in NODE_FIELDS])
    sql, kinds = plan
    get = _node_fields_getter
    rows = [[*_adapt_row(list(get(rec)), kinds), rec.row_id] for rec in records]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def insert_histories(run_id: str, histories: list[dict[str, Any]]) -> None:
    NodeHistory.objects.bulk_create([NodeHistory(run_id=run_id, **h) for h in histories], batch_size=500)


def append_logs(run_id: str, logs: list[LogEntry], *, fresh: bool = False) -> None:
    """Add components' log lines to their node attempt's log, within the bound (node_log.py).

    Runs in the step's transaction, under the run's lock, so two calls of one attempt never
    append at once; most steps log nothing. On PostgreSQL each call's lines are one upsert that
    applies the bound itself (log_statements), all in one round trip, nothing read; a step's
    save sends them with its own writes. Elsewhere: one read for the step (none when `fresh`:
    the run was inserted in this transaction, so none of its log rows exists yet), then one
    write per attempt that logged, in plain SQL as for node rows.
    """
    if not logs:
        return
    if logs_go_with_writes():
        with connection.cursor() as cursor:
            execute_prepared_many(cursor, log_statements(run_id, logs))
        return
    max_chars = node_log.limit()
    found: dict[tuple[str, str], list[Any]] = {} if fresh else _read_logs(run_id, logs)
    touched: dict[tuple[str, str], list[Any]] = {}
    for key, node_id, version, lines, truncated in logs:
        # [row id or None, node id, lines, size, truncated]
        row = found.setdefault((key, version), [None, node_id, [], 0, False])
        if not row[4]:
            row[2], dropped = node_log.bounded(row[2], lines, max_chars)
            row[4] = truncated or dropped
            row[3] = sum(node_log.line_size(x) for x in row[2])
            touched[(key, version)] = row
    now = datetime_adapter()(timezone.now())
    table = connection.ops.quote_name(NodeLog._meta.db_table)
    inserts = [(run_id, key, row[1], version, jsontext.dumps(row[2]), row[3], row[4], now, now)
               for (key, version), row in touched.items() if row[0] is None]
    updates = [(jsontext.dumps(row[2]), row[3], row[4], now, row[0]) for row in touched.values() if row[0] is not None]
    with connection.cursor() as cursor:
        for sql, rows_ in ((f"INSERT INTO {table} (run_id, key, node_id, version, lines, size, truncated, "
                            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", inserts),
                           (f"UPDATE {table} SET lines = %s, size = %s, truncated = %s, updated_at = %s "
                            "WHERE id = %s", updates)):
            if len(rows_) == 1:  # the usual step: one node's log
                execute_prepared(cursor, sql, rows_[0])
            elif rows_:
                cursor.executemany(sql, rows_)


_log_upsert: list[str] = []


def _log_upsert_sql() -> str:
    """One call's lines added to its attempt's log row, or the row inserted with them (PostgreSQL).

    The bound is node_log.bounded's, applied by the server to the row it finds: the lines come
    already bounded on their own, with their running sizes (`sizes[i]`: the characters of lines
    0..i), and the row keeps those whose running size fits in what the limit leaves it, which
    are a prefix since the sizes only grow; a row cut once takes nothing more. Nothing is read
    first, so the upsert can go with the step's other writes."""
    if not _log_upsert:
        table = connection.ops.quote_name(NodeLog._meta.db_table)
        _log_upsert.append(
            f"INSERT INTO {table} AS l (run_id, key, node_id, version, lines, size, truncated, created_at, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id, key, version) DO UPDATE SET (lines, size, truncated, updated_at) = ("
            "SELECT l.lines || COALESCE(jsonb_agg(x.line ORDER BY x.i), '[]'::jsonb), "
            "l.size + COALESCE(max(x.size), 0), "
            "EXCLUDED.truncated OR count(x.i) < jsonb_array_length(EXCLUDED.lines), EXCLUDED.updated_at "
            "FROM ROWS FROM (jsonb_array_elements(EXCLUDED.lines), unnest(%s::int[])) WITH ORDINALITY "
            "AS x(line, size, i) WHERE x.size <= %s - l.size) "
            "WHERE NOT l.truncated")
    return _log_upsert[0]


def logs_go_with_writes() -> bool:
    """Whether log lines are written by statements that need no read first (log_statements), so
    that they can go with other writes: PostgreSQL's upsert."""
    return connection.vendor == "postgresql"


def log_statements(run_id: str, logs: list[LogEntry]) -> list[tuple[str, list[Any]]]:
    """append_logs' upserts (PostgreSQL), one per call that logged, in the calls' order: a later
    call of the same attempt finds the row the earlier one wrote, in the same query."""
    max_chars = node_log.limit()
    now = datetime_adapter()(timezone.now())
    sql = _log_upsert_sql()
    statements = []
    for key, node_id, version, lines, truncated in logs:
        kept, dropped = node_log.bounded([], lines, max_chars)
        sizes = list(itertools.accumulate(node_log.line_size(line) for line in kept))
        statements.append((sql, [run_id, key, node_id, version, jsontext.dumps(kept), sizes[-1] if sizes else 0,
                                 truncated or dropped, now, now, sizes, max_chars]))
    return statements


def _read_logs(run_id: str, logs: list[LogEntry]) -> dict[tuple[str, str], list[Any]]:
    keys = list({k for k, *_ in logs})
    versions = list({v for _k, _n, v, *_ in logs})
    table = connection.ops.quote_name(NodeLog._meta.db_table)
    sql = f"SELECT id, key, version, node_id, lines, size, truncated FROM {table} WHERE run_id = %s AND "
    sql += f"key IN ({', '.join(['%s'] * len(keys))}) AND version IN ({', '.join(['%s'] * len(versions))})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, *keys, *versions])
        return {(key, version): [pk, node_id, json.loads(lines) if isinstance(lines, str | bytes) else lines,
                                 size, bool(truncated)]
                for pk, key, version, node_id, lines, size, truncated in cursor.fetchall()}


_load_sql: dict[str, str] = {}


def load_records(run_id: str, keys: list[str]) -> dict[str, NodeRecord]:
    """The node rows of `keys` that exist, by key: every step that meets a node not read yet.

    Plain SQL built once per vendor: the ORM's compile of this filter cost more than the
    statement (about half a millisecond per step)."""
    if not keys:
        return {}
    head = _load_sql.get(connection.vendor)
    if head is None:
        head = _load_sql[connection.vendor] = (
            f"SELECT {returning_columns()} FROM {connection.ops.quote_name(NodeState._meta.db_table)} "
            "WHERE run_id = %s AND key ")
    unique = list(dict.fromkeys(keys))
    params: list[Any]
    if connection.vendor == "postgresql":
        sql, params = head + "= ANY(%s)", [run_id, unique]
    else:
        sql, params = head + f"IN ({', '.join(['%s'] * len(unique))})", [run_id, *unique]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)  # one shape on PostgreSQL (an array), text elsewhere
        found = [record_from_values(row) for row in cursor.fetchall()]
    return {rec.key: rec for rec in found}


# --------------------------------------------------------------------------- component work
_CLAIM_SQL = """
UPDATE {table} SET lease_until = %s, wake_at = NULL
WHERE run_id = %s AND key = %s AND version = %s AND state = %s AND schedule_count = %s AND wake_at <= %s
  AND (lease_until IS NULL OR lease_until < %s)
RETURNING {columns}
"""
_claim_sql: dict[tuple[str, bool], str] = {}


def claim_node(run_id: str, key: str, version: str, schedule_count: int, lease_seconds: int) -> NodeRecord | None:
    """Take the work a message names, in one statement; None when the message is stale.

    The conditional UPDATE is the fence (version, schedule count, due time, no
    live lease) and RETURNING hands back what the work needs, so a component
    message costs one statement before the component runs.
    """
    claimed = _claim(run_id, key, version, schedule_count, lease_seconds, with_tree=False)
    return None if claimed is None else claimed[0]


def claim_node_with_tree(run_id: str, key: str, version: str, schedule_count: int,
                         lease_seconds: int) -> tuple[NodeRecord, str | None] | None:
    """claim_node for a process that has not compiled the run's tree yet: the run's tree text
    comes back with the claimed row (PostgreSQL; None elsewhere, where the caller reads it).

    A worker's first message of a run (most runs are started by a web process) then costs one
    statement before the component runs, where the claim and the tree's read were two."""
    return _claim(run_id, key, version, schedule_count, lease_seconds, with_tree=connection.vendor == "postgresql")


def _claim(run_id: str, key: str, version: str, schedule_count: int, lease_seconds: int,
           *, with_tree: bool) -> tuple[NodeRecord, str | None] | None:
    now = timezone.now()
    adapt = datetime_adapter()
    lease = now + timedelta(seconds=lease_seconds)
    sql = _claim_sql.get((connection.vendor, with_tree))
    if sql is None:
        quote = connection.ops.quote_name
        columns = returning_columns()
        if with_tree:
            columns += f", (SELECT {_tree_text()} FROM {quote(Run._meta.db_table)} WHERE {quote('id')} = %s)"
        sql = _claim_sql[(connection.vendor, with_tree)] = _CLAIM_SQL.format(
            table=quote(NodeState._meta.db_table), columns=columns)
    params = [adapt(lease), run_id, key, version, s.RUNNING, schedule_count, adapt(now + EARLY_TOLERANCE), adapt(now)]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, [*params, run_id] if with_tree else params)
        row = cursor.fetchone()
    if row is None:
        return None
    if with_tree:
        return record_from_values(row[:-1]), row[-1]
    return record_from_values(row), None


def release_node(run_id: str, key: str, version: str) -> None:
    """Give claimed work back: due again now, no lease (the sweep re-sends it)."""
    NodeState.objects.filter(run_id=run_id, key=key, version=version, state=s.RUNNING).update(
        lease_until=None, wake_at=timezone.now())


def renew_lease(run_id: str, key: str, version: str, lease_seconds: int) -> bool:
    """Extend the lease of running work; False when the node is no longer RUNNING with `version`."""
    lease = timezone.now() + timedelta(seconds=lease_seconds)
    return bool(NodeState.objects.filter(run_id=run_id, key=key, version=version,
                                         state=s.RUNNING).update(lease_until=lease))


# --------------------------------------------------------------------------- the sweep's queries
def _through_partial_index(rows: models.QuerySet) -> list[tuple[Any, ...]]:
    """The rows of one of the sweep's reads, which PostgreSQL must take from a partial index.

    Each read names a column only pending work has set (wake_at, lease_until, deadline), whose
    partial index holds just those rows. On a table it has no statistics of (autovacuum off, a
    young table) the planner guesses a third of the table matches `<= now` and scans all of it:
    on every sweep, every second, a cost that grows with every run ever stored. Scans of a whole
    table are switched off for this read alone: SET LOCAL inside a transaction rolled back (a
    savepoint within a caller's transaction), which ends the setting and has nothing else to undo."""
    if connection.vendor != "postgresql":
        return list(rows)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        found = list(rows)
        transaction.set_rollback(True)
    return found


def due_work(now: datetime, grace: timedelta, renudge: timedelta, limit: int) -> list[tuple[Any, ...]]:
    """Due work nobody has claimed (a lost or late message), each at most once per `renudge`,
    marked nudged now, longest due first (fairness under a backlog of more than `limit`):
    (run_id, key, version, schedule_count, state, phase)."""
    due = _through_partial_index(
        NodeState.objects.filter(wake_at__lte=now - grace)
        .filter(Q(nudged_at__isnull=True) | Q(nudged_at__lt=now - renudge))
        .order_by("wake_at")
        .values_list("pk", "run_id", "key", "version", "schedule_count", "state", "phase")[:limit]
    )
    if due:
        NodeState.objects.filter(pk__in=[d[0] for d in due]).update(nudged_at=now)
    return [d[1:] for d in due]


def expired_leases(now: datetime, limit: int) -> list[tuple[Any, ...]]:
    """Running work whose worker stopped renewing its lease: (pk, run_id, key, version, schedule_count)."""
    return _through_partial_index(
        NodeState.objects.filter(lease_until__lt=now, state=s.RUNNING)
        .values_list("pk", "run_id", "key", "version", "schedule_count")[:limit]
    )


def reset_expired(pk: int, version: str, now: datetime) -> bool:
    """Make expired work due again now; False when it moved on meanwhile."""
    return bool(NodeState.objects.filter(pk=pk, version=version, lease_until__lt=now).update(
        lease_until=None, wake_at=now, nudged_at=now))


def overdue_nodes(now: datetime, limit: int) -> list[tuple[Any, ...]]:
    """Running nodes past their deadline: (run_id, key, version)."""
    return _through_partial_index(
        NodeState.objects.filter(deadline__lte=now, state=s.RUNNING)
        .values_list("run_id", "key", "version")[:limit]
    )


def owed_runs(now: datetime, lease: timedelta, limit: int) -> list[str]:
    """Runs owed an advance step whose message got lost, longest owed first (as due_work); their
    lease moves on by `lease`."""
    owed = [pk for (pk,) in _through_partial_index(
        Run.objects.filter(lease_until__lte=now).order_by("lease_until").values_list("pk")[:limit])]
    if owed:
        Run.objects.filter(pk__in=owed).update(lease_until=now + lease)
    return owed
