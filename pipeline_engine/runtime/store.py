"""Runs one step of a run under its row lock, and writes the walker's diff.

`step(run_id, apply)` is the only way the engine changes a run:

1. lock the run row (`SELECT ... FOR UPDATE`; on SQLite the IMMEDIATE
   transaction is the lock), without its big tree column;
2. get the compiled tree from a per-process LRU cache (loaded once per run);
3. let `apply` change the walker (an operation or a worker's report), then
   walk as far as possible;
4. write the diff in bulk: new node rows, changed node rows, history rows,
   one run-row update;
5. after commit, send the walker's effects (component tasks, timers, signals).
"""
from __future__ import annotations

import json
import logging
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pipeline_engine.core import states as s
from pipeline_engine.core.records import NODE_FIELDS, Effect, NodeRecord, RunData
from pipeline_engine.core.tree import CompiledTree, compile_tree
from pipeline_engine.core.walker import Walker
from pipeline_engine.errors import RunNotFound

from . import metrics
from .models import NodeHistory, NodeState, Run

logger = logging.getLogger("pipeline_engine")

T = TypeVar("T")

TREE_CACHE_SIZE = 128
_tree_cache: OrderedDict[str, CompiledTree] = OrderedDict()
_tree_lock = threading.Lock()

RECORD_FIELDS = ("key", "scope", "node_id", "node_type", "component_code", "name", *NODE_FIELDS)


def lease_seconds() -> int:
    return int(getattr(settings, "SOPS_REAPER_LEASE_SECONDS", 30))


def rerun_limit() -> int:
    return int(getattr(settings, "SOPS_NODE_RERUN_LIMIT", 100))


# --------------------------------------------------------------------------- trees
def remember_tree(run_id: str, tree: CompiledTree) -> None:
    with _tree_lock:
        _tree_cache[run_id] = tree
        _tree_cache.move_to_end(run_id)
        while len(_tree_cache) > TREE_CACHE_SIZE:
            _tree_cache.popitem(last=False)


def cached_tree(run_id: str) -> CompiledTree | None:
    with _tree_lock:
        cached = _tree_cache.get(run_id)
        if cached is not None:
            _tree_cache.move_to_end(run_id)
        return cached


def compiled_tree(run_id: str, raw: dict[str, Any] | None = None) -> CompiledTree:
    with _tree_lock:
        cached = _tree_cache.get(run_id)
        if cached is not None:
            _tree_cache.move_to_end(run_id)
            return cached
    if raw is None:
        raw = Run.objects.values_list("tree", flat=True).get(pk=run_id)
    tree = compile_tree(raw)
    remember_tree(run_id, tree)
    return tree


# --------------------------------------------------------------------------- records
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


def record_from_row(row: NodeState) -> NodeRecord:
    return NodeRecord(row_id=row.pk, **{f: getattr(row, f) for f in RECORD_FIELDS})


_INSERT_BATCH = 1000
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


_EMPTY_JSON = "{}"
_insert_plan: dict[str, tuple[str, str, Callable[[Any], tuple[Any, ...]], list[int], list[int]]] = {}


def _insert_sql() -> tuple[str, str, Callable[[Any], tuple[Any, ...]], list[int], list[int]]:
    """(statement head, one row's placeholder, record getter, json positions, datetime positions)."""
    plan = _insert_plan.get(connection.vendor)
    if plan is None:
        columns = _columns()
        attrs = [a for a, _, _ in columns if a != "run_id"]
        kinds = [k for a, _, k in columns if a != "run_id"]
        quote = connection.ops.quote_name
        head = (f"INSERT INTO {quote(NodeState._meta.db_table)} "
                f"({', '.join(quote(c) for _, c, _ in columns)}) VALUES ")
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        plan = _insert_plan[connection.vendor] = (
            head, placeholder, operator.attrgetter(*attrs),
            [i for i, k in enumerate(kinds) if k == "json"], [i for i, k in enumerate(kinds) if k == "datetime"])
    return plan


def insert_nodes(run_id: str, records: list[NodeRecord]) -> None:
    """Insert new node rows in as few statements as possible.

    Django's bulk_create prepares every value through the field machinery,
    which costs more than the walk itself for big trees; node rows have a
    fixed, known shape, so they are adapted here directly.
    """
    head, placeholder, get, json_at, dt_at = _insert_sql()
    adapt = datetime_adapter()
    dumps = json.dumps
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
        rows.append((run_id, *row))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_BATCH):
            chunk = rows[start:start + _INSERT_BATCH]
            if connection.vendor == "postgresql":
                # One multi-row VALUES statement, each row quoted by psycopg2.
                mogrify = cursor.cursor.mogrify
                values = b", ".join([mogrify(placeholder, row) for row in chunk]).decode()
                cursor.execute(head + values)
            else:
                cursor.executemany(head + placeholder, chunk)


def _adapt_row(values: list[Any], kinds: list[str]) -> list[Any]:
    adapt = datetime_adapter()
    out = []
    for value, kind in zip(values, kinds, strict=True):
        if value is not None:
            if kind == "json":
                value = json.dumps(value)
            elif kind == "datetime":
                value = adapt(value)
        out.append(value)
    return out


_returning: dict[str, str] = {}


def returning_columns() -> str:
    """The column list (id first) for a RETURNING that `record_from_values` reads."""
    columns = _returning.get(connection.vendor)
    if columns is None:
        quote = connection.ops.quote_name
        columns = _returning[connection.vendor] = ", ".join(
            ["id", *(quote(c) for a, c, _ in _columns() if a in _RECORD_SET)])
    return columns


_RECORD_SET = frozenset(RECORD_FIELDS)


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


def update_run(run_id: str, data: RunData, display_state: str, lease: datetime | None) -> None:
    adapt = datetime_adapter()
    sql = (f"UPDATE {Run._meta.db_table} SET state = %s, display_state = %s, frontier = %s, "
           f"context = %s, outputs = %s, finished_at = %s, lease_until = %s, steps = steps + 1 WHERE id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [
            data.state, display_state, json.dumps(data.frontier), json.dumps(data.context),
            json.dumps(data.outputs), adapt(data.finished_at) if data.finished_at else None,
            adapt(lease) if lease else None, run_id,
        ])


def load_records(run_id: str, keys: list[str]) -> dict[str, NodeRecord]:
    rows = NodeState.objects.filter(run_id=run_id, key__in=keys)
    return {row.key: record_from_row(row) for row in rows}


def run_data(run: Run | RunRow) -> RunData:
    return RunData(run_id=run.id, state=run.state, frontier=run.frontier or {}, context=run.context or {},
                   outputs=run.outputs or {}, time_zone=run.time_zone, executor=run.executor,
                   started_at=run.started_at, finished_at=run.finished_at)


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
    tree: dict[str, Any] | None = None


_RUN_LOCK_COLUMNS = ("id", "state", "frontier", "context", "outputs", "meta", "time_zone", "executor",
                     "started_at", "finished_at", "lease_until")
_lock_sql: dict[tuple[str, bool], str] = {}


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
        columns = [*_RUN_LOCK_COLUMNS, *(("tree",) if with_tree else ())]
        sql = (f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(Run._meta.db_table)} "
               f"WHERE {quote('id')} = %s")
        if connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        _lock_sql[(vendor, with_tree)] = sql
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id])
        row = cursor.fetchone()
    if row is None:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    return RunRow(
        id=row[0], state=row[1], frontier=_json_value(row[2]) or {}, context=_json_value(row[3]) or {},
        outputs=_json_value(row[4]) or {}, meta=_json_value(row[5]) or {}, time_zone=row[6],
        executor=row[7], started_at=_aware(row[8]), finished_at=_aware(row[9]), lease_until=_aware(row[10]),
        tree=_json_value(row[11]) if with_tree else None,
    )


# --------------------------------------------------------------------------- the step
def _clock() -> Callable[[], datetime]:
    # What timezone.now returns, without its settings lookup on each of the
    # several calls per node a walk makes.
    return partial(datetime.now, UTC) if settings.USE_TZ else datetime.now


def step(run_id: str, apply: Callable[[Walker], T], *, walk: bool = True,
         records: dict[str, NodeRecord] | None = None) -> T:
    """Apply one change to a run under its lock, walk, persist; effects go after commit."""
    with transaction.atomic():
        cached = cached_tree(run_id)
        run = lock_run(run_id, with_tree=cached is None)
        tree = cached or compiled_tree(run_id, run.tree)
        run.tree = None  # the compiled form is cached; do not keep the raw one alive in closures
        data = run_data(run)
        walker = Walker(tree, data, lambda keys: load_records(run_id, keys), now=_clock(),
                        rerun_limit=rerun_limit(), records=records)
        result = apply(walker)
        if walk:
            walker.walk()
        else:
            walker.settle()
        _persist(run, data, walker, walked=walk)
    return result


def _persist(run: RunRow, data: RunData, walker: Walker, *, walked: bool) -> None:
    now = timezone.now()
    run_id = run.id
    if walker.created:
        insert_nodes(run_id, list(walker.created.values()))
    updated = [walker.records[k] for k in walker.updated if k not in walker.created]
    if updated:
        update_nodes(updated)
    if walker.histories:
        NodeHistory.objects.bulk_create([
            NodeHistory(run_id=run_id, **{k: v for k, v in h.items()}) for h in walker.histories
        ], batch_size=500)
    # An advance is owed when an operation left runnable tokens without walking.
    owed = (not walked) and bool(data.frontier["ready"]) and data.state == s.RUNNING
    lease = now + timedelta(seconds=lease_seconds()) if owed else None
    if walker.changed or lease != run.lease_until:
        update_run(run_id, data, walker.display_state(), lease)
    effects = list(walker.effects)
    if owed:
        effects.append(Effect("advance"))
    finished = list(walker.finished_nodes)
    if effects or finished:
        transaction.on_commit(lambda: _after_commit(run, data, effects, finished, now))


def _after_commit(run: RunRow, data: RunData, effects: list[Effect], finished: list[NodeRecord],
                  now: datetime) -> None:
    from . import tasks  # late: tasks import this module

    try:
        metrics.nodes_finished(finished)
    except Exception:  # noqa: BLE001 - metrics must never stop the messages below
        logger.exception("run=%s metrics failed", run.id)
    for effect in effects:
        try:
            if effect.kind == "component":
                if not effect.countdown and _keep_local(run.id, effect, data):
                    continue
                tasks.send_component(run.id, effect.key, effect.version, effect.schedule_count,
                                     countdown=effect.countdown, time_zone=data.time_zone,
                                     executor=data.executor)
            elif effect.kind == "event":
                tasks.send_advance(run.id, event=effect.event, key=effect.key, version=effect.version,
                                   countdown=effect.countdown)
            elif effect.kind == "advance":
                tasks.send_advance(run.id)
            elif effect.kind == "finished":
                _send_finished(run, effect.state)
        except Exception:  # noqa: BLE001 - a lost message is recovered by the reaper
            logger.exception("run=%s effect=%s could not be sent", run.id, effect.kind)


# --- running the next component in the same task ------------------------------
# A worker task that just advanced a run keeps ONE immediately-due component
# of that run to run itself next, instead of a broker round trip; the others
# go to the broker so parallel branches still spread over workers. The node
# row already says the work is due (wake_at), so if this process dies first
# the reaper sends it again, and the claim fences duplicates.
_local = threading.local()


def _keep_local(run_id: str, effect: Effect, data: RunData) -> bool:
    sink = getattr(_local, "sink", None)
    if sink is None or sink:
        return False
    sink.append((run_id, effect.key, effect.version, effect.schedule_count, data.time_zone, data.executor))
    return True


def collect_local_work() -> None:
    _local.sink = []


def take_local_work() -> tuple[Any, ...] | None:
    """The component this task kept for itself, if any (and keep collecting)."""
    sink = getattr(_local, "sink", None)
    if not sink:
        return None
    work = sink.pop()
    return work


def stop_local_work() -> list[tuple[Any, ...]]:
    sink = getattr(_local, "sink", None) or []
    _local.sink = None
    return sink


def _send_finished(run: RunRow, state: str) -> None:
    from pipeline_engine.signals import run_finished

    metrics.run_finished(state)
    logger.info("run=%s finished state=%s", run.id, state)
    run_finished.send(sender=Run, run_id=run.id, state=state, meta=run.meta)
