"""The engine's public API (docs/engine-contract.md).

Writes join the caller's transaction and send their messages on commit.
Every operation takes the run's row lock through `store.step`, so it never
races the walker; operations only change state and leave tokens for an
advance step in a worker, so a web request stays short whatever the tree.
"""
from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from pipeline_engine.core import states as s
from pipeline_engine.core import tree as t
from pipeline_engine.core.context import ScopeContext, child_context
from pipeline_engine.core.expressions import ExpressionError, references, render
from pipeline_engine.core.validation import fill_converge_ids, missing_converge_ids, validate_tree
from pipeline_engine.core.walker import Walker, start_context, start_frontier
from pipeline_engine.errors import InvalidOperation, NodeNotFound, RunNotFound, TreeInvalid
from pipeline_engine.runtime import metrics, store
from pipeline_engine.runtime.db_retry import connection_lost, retry_if_unchanged
from pipeline_engine.runtime.db_retry import describe as describe_db_error
from pipeline_engine.runtime.models import NodeHistory, NodeState, Run

__all__ = [
    "RunSummary", "validate_pipeline", "run_pipeline", "pause_pipeline", "resume_pipeline",
    "revoke_pipeline", "retry_node", "skip_node", "skip_exclusive_gateway", "forced_fail", "callback",
    "pause_subprocess", "resume_subprocess", "get_status_tree", "get_status_trees", "get_node_detail",
    "preview_node_inputs", "get_run_summary", "get_run_summaries", "list_components",
    # The rule for a lost database connection, for the apps' own loops and requests (runtime/db_retry.py).
    "connection_lost", "retry_if_unchanged", "describe_db_error",
]


@dataclass
class RunSummary:
    run_id: str
    state: str
    start_time: datetime | None
    finish_time: datetime | None
    elapsed_time: int
    outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- start
def validate_pipeline(tree: dict) -> None:
    """Raise TreeInvalid naming the node and rule; fills converge_gateway_id in `tree`."""
    validate_tree(tree)


def run_pipeline(tree: dict, *, run_id: str | None = None, time_zone: str = "UTC", executor: str = "",
                 priority: int = 100, meta: dict | None = None) -> str:
    """Validate and start a run; the first advance step runs in a worker after commit.

    The caller's tree is not changed. It is copied only when validation has
    converge gateway ids to fill in (the stored tree carries them); otherwise
    it is serialised as it is, in the INSERT itself.
    """
    compiled = validate_tree(tree, fill_converges=False)
    if missing_converge_ids(tree, compiled):
        tree = copy.deepcopy(tree)
        fill_converge_ids(tree, compiled)
    _detach(compiled)
    run_id = run_id or uuid.uuid4().hex
    now = timezone.now()
    if not _insert_run(run_id, tree, compiled, meta=meta or {}, time_zone=time_zone or "UTC",
                       executor=executor or "", priority=priority, now=now):
        raise InvalidOperation(f"pipeline({run_id}) has already been started")
    # This process compiled it already: a step it runs itself (a worker that
    # starts runs, the embedded mode) does not read and compile the tree again.
    store.remember_tree(run_id, compiled)
    metrics.RUNS_STARTED.inc()

    def send() -> None:
        from pipeline_engine.runtime import tasks

        tasks.send_advance(run_id)

    transaction.on_commit(send)
    return run_id


_INSERT_RUN = (
    "INSERT INTO {table} (id, state, display_state, tree, context, frontier, outputs, meta, time_zone, "
    "executor, priority, created_at, started_at, finished_at, lease_until, steps) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, 0) ON CONFLICT (id) DO NOTHING"
)


def _insert_run(run_id: str, tree: dict, compiled: t.CompiledTree, *, meta: dict, time_zone: str,
                executor: str, priority: int, now: datetime) -> bool:
    """INSERT the run row; False when a run with this id exists already.

    ON CONFLICT DO NOTHING (PostgreSQL, SQLite >= 3.24) and the row count
    replace the ORM create in a SAVEPOINT that caught IntegrityError: that
    cost two more round trips and the ORM's compile on every start.
    """
    adapt = store.datetime_adapter()
    dumps = json.dumps
    params = [
        run_id, s.RUNNING, s.RUNNING, dumps(tree), dumps(start_context(compiled)),
        dumps(start_frontier(compiled)), "{}", dumps(meta), time_zone, executor, priority,
        adapt(now), adapt(now), adapt(now + _lease()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_RUN.format(table=connection.ops.quote_name(Run._meta.db_table)), params)
        return cursor.rowcount == 1


def _detach(compiled: t.CompiledTree) -> None:
    """Give the compiled tree its own copies of the caller's nested values.

    Compiling keeps references to the raw tree's input values and constants;
    since the tree is no longer deep-copied, a caller changing its dict after
    the start would otherwise change the cached compiled tree. Scalars (most
    values) are shared safely; only dicts and lists are copied.
    """
    def own(values: dict[str, Any]) -> dict[str, Any]:
        if any(isinstance(v, dict | list) for v in values.values()):
            return {k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in values.items()}
        return values

    for scope in compiled.scopes.values():
        scope.constants = own(scope.constants)
        for node in scope.nodes.values():
            if node.data:
                node.data = own(node.data)


def _lease():  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=store.lease_seconds())


# --------------------------------------------------------------------------- operations
def _op(run_id: str, fn: Any) -> Any:
    return store.step(run_id, fn, walk=False)


def _key(walker: Walker, node_id: str) -> str:
    """The node's key (path through subprocesses); the active one when ids repeat."""
    keys = walker.tree.find_keys(node_id)
    if not keys:
        raise NodeNotFound(f"node({node_id}) does not exist in pipeline({walker.run.run_id})")
    for key in keys:
        if key in walker.active:
            return key
    return keys[0]


def pause_pipeline(run_id: str) -> None:
    _op(run_id, lambda w: w.pause())


def resume_pipeline(run_id: str) -> None:
    _op(run_id, lambda w: w.resume())


def revoke_pipeline(run_id: str) -> None:
    _op(run_id, lambda w: w.revoke())


def retry_node(run_id: str, node_id: str, inputs: dict | None = None) -> None:
    if inputs is not None and not isinstance(inputs, dict):
        raise InvalidOperation("inputs field is not a valid object")
    _op(run_id, lambda w: w.retry(_key(w, node_id), inputs))


def skip_node(run_id: str, node_id: str) -> None:
    _op(run_id, lambda w: w.skip(_key(w, node_id)))


def skip_exclusive_gateway(run_id: str, node_id: str, flow_id: str) -> None:
    _op(run_id, lambda w: w.skip_exclusive_gateway(_key(w, node_id), flow_id))


def forced_fail(run_id: str, node_id: str, ex_data: str = "") -> None:
    _op(run_id, lambda w: w.forced_fail(_key(w, node_id), ex_data))


def callback(run_id: str, node_id: str, data: Any, version: str | None = None) -> None:
    """Deliver callback data to a waiting node; a repeat of an accepted callback is a no-op."""
    _op(run_id, lambda w: w.callback(_key(w, node_id), data, version))


def pause_subprocess(run_id: str, node_id: str) -> None:
    _op(run_id, lambda w: w.pause_subprocess(_key(w, node_id)))


def resume_subprocess(run_id: str, node_id: str) -> None:
    _op(run_id, lambda w: w.resume_subprocess(_key(w, node_id)))


# --------------------------------------------------------------------------- reads
_STATUS_COLUMNS = ("run_id", "key", "scope", "node_id", "name", "state", "version", "loop",
                   "retry", "skip", "error_ignored", "started_at", "finished_at")


def _elapsed(start: datetime | None, finish: datetime | None, now: datetime) -> int:
    if start is None:
        return 0
    return max(0, int(((finish or now) - start).total_seconds()))


def _node_status(row: tuple, now: datetime) -> dict[str, Any]:
    # `row` is a values_list tuple in _STATUS_COLUMNS order: plain tuples instead of
    # model instances keep a 1,000-node status tree at a few milliseconds.
    _run, _key, _scope, node_id, name, state, version, loop, retry, skip, error_ignored, start, finish = row
    return {
        "id": node_id, "state": state, "name": name, "retry": retry, "skip": skip,
        "loop": loop, "version": version, "error_ignorable": error_ignored,
        "start_time": start, "finish_time": finish,
        "elapsed_time": _elapsed(start, finish, now), "children": {},
    }


def _roll_up(status: dict[str, Any]) -> None:
    """A running subprocess shows FAILED / NODE_SUSPENDED when a child does."""
    child_states = set()
    for child in status["children"].values():
        if child["children"]:
            _roll_up(child)
        child_states.add(child["state"])
    if status["state"] == s.RUNNING and status["children"]:
        if s.FAILED in child_states:
            status["state"] = s.FAILED
        elif child_states & {s.SUSPENDED, s.NODE_SUSPENDED}:
            status["state"] = s.NODE_SUSPENDED


# The run's columns, then its nodes' (_STATUS_COLUMNS after run_id) through the reverse
# relation: one LEFT JOIN, so the run's state and its nodes come from one snapshot.
_RUN_COLUMNS = ("id", "display_state", "started_at", "finished_at")
_JOINED_COLUMNS = (*_RUN_COLUMNS, *(f"nodes__{c}" for c in _STATUS_COLUMNS[1:]))


def get_status_trees(run_ids: list[str]) -> dict[str, dict]:
    """Status trees of many runs in one query; unknown ids are left out.

    One statement matters: read separately, a step committing between the run read and
    the node read would show half of itself (a FAILED node under a root still RUNNING).
    """
    joined = list(Run.objects.filter(pk__in=list(run_ids)).order_by("nodes__started_at")
                  .values_list(*_JOINED_COLUMNS))
    if not joined:
        return {}
    now = timezone.now()
    result: dict[str, dict] = {}
    statuses: dict[tuple[str, str], dict[str, Any]] = {}
    nodes: list[tuple] = []
    for row in joined:
        run_id, display_state, started_at, finished_at = row[:4]
        if run_id not in result:
            result[run_id] = {
                "id": run_id, "state": display_state, "name": "", "retry": 0, "skip": False, "loop": 1,
                "version": "", "error_ignorable": False, "start_time": started_at,
                "finish_time": finished_at, "elapsed_time": _elapsed(started_at, finished_at, now),
                "children": {},
            }
        if row[4] is None:  # a run with no node yet: the LEFT JOIN's empty side
            continue
        node = (run_id, *row[4:])
        statuses[(run_id, node[1])] = _node_status(node, now)
        nodes.append(node)
    for node in nodes:
        run_id, key, scope, node_id = node[0], node[1], node[2], node[3]
        parent = result[run_id] if not scope else statuses.get((run_id, scope))
        if parent is not None:
            parent["children"][node_id] = statuses[(run_id, key)]
    for root in result.values():
        for child in root["children"].values():
            if child["children"]:
                _roll_up(child)
    return result


def get_status_tree(run_id: str) -> dict:
    trees = get_status_trees([run_id])
    if run_id not in trees:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    return trees[run_id]


def _outputs_format(code: str) -> list[dict[str, Any]]:
    if not code:
        return []
    from pipeline_engine.core.components import get_component

    try:
        cls = get_component(code)
    except KeyError:
        return []
    return [{"key": f.key, "name": f.name, "type": f.type} for f in cls.outputs_format]


def get_node_detail(run_id: str, node_id: str) -> dict:
    """Status fields plus inputs, outputs, ex_data, histories, component code and outputs format."""
    run = Run.objects.filter(pk=run_id).only("id").first()
    if run is None:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    rows = list(NodeState.objects.filter(run_id=run_id, node_id=node_id))
    now = timezone.now()
    if not rows:
        tree = store.compiled_tree(run_id)
        keys = tree.find_keys(node_id)
        if not keys:
            raise NodeNotFound(f"node({node_id}) does not exist in pipeline({run_id})")
        node = tree.node(keys[0])
        return {
            "id": node_id, "state": s.READY, "name": node.name, "retry": 0, "skip": False, "loop": 1,
            "version": "", "error_ignorable": node.error_ignorable, "start_time": None, "finish_time": None,
            "elapsed_time": 0, "children": {}, "inputs": {}, "outputs": {}, "ex_data": None, "histories": [],
            "component_code": node.code, "outputs_format": _outputs_format(node.code),
        }
    row = rows[0]
    histories = [
        {"start_time": h.started_at, "finish_time": h.finished_at,
         "elapsed_time": _elapsed(h.started_at, h.finished_at, now), "inputs": h.inputs, "outputs": h.outputs,
         "ex_data": h.ex_data, "loop": h.loop, "retry": h.retry, "skip": h.skip, "state": h.state}
        for h in NodeHistory.objects.filter(run_id=run_id, key=row.key).order_by("id")
    ]
    detail = _node_status(tuple(getattr(row, c) for c in _STATUS_COLUMNS), now)
    detail.update({
        "inputs": row.inputs, "outputs": row.outputs, "ex_data": row.ex_data, "histories": histories,
        "component_code": row.component_code, "outputs_format": _outputs_format(row.component_code),
    })
    return detail


def preview_node_inputs(tree: dict, node_id: str, subprocess_stack: list[str] | None = None) -> dict:
    """A not-yet-run node's inputs rendered from the tree's constants."""
    try:
        compiled = t.compile_tree(tree)
    except (t.TreeShapeError, KeyError, TypeError, AttributeError) as exc:
        raise TreeInvalid(f"pipeline tree is malformed: {exc}") from exc
    scope = compiled.root
    ctx = ScopeContext({"values": dict(scope.constants), "plain": []})
    for sp_id in subprocess_stack or []:
        sp = scope.nodes.get(sp_id)
        if sp is None or sp.child is None:
            raise NodeNotFound(f"subprocess({sp_id}) does not exist")
        try:
            stored = child_context(sp.child.constants, ctx)
        except ExpressionError:
            stored = {"values": dict(sp.child.constants), "plain": []}
        scope = sp.child
        ctx = ScopeContext(stored)
    node = scope.nodes.get(node_id)
    if node is None:
        raise NodeNotFound(f"node({node_id}) does not exist")
    inputs: dict[str, Any] = {}
    for key, value in node.data.items():
        try:
            context = ctx.resolve(references(value))
            context.setdefault("_loop", 1)
            context.setdefault("_inner_loop", 1)
            inputs[key] = render(value, context)
        except ExpressionError:
            inputs[key] = value
    return inputs


def _summary(run: Run, now: datetime) -> RunSummary:
    return RunSummary(run_id=run.id, state=run.display_state, start_time=run.started_at,
                      finish_time=run.finished_at, elapsed_time=_elapsed(run.started_at, run.finished_at, now),
                      outputs=run.outputs or {}, meta=run.meta or {})


def get_run_summaries(run_ids: list[str]) -> dict[str, RunSummary]:
    now = timezone.now()
    runs = Run.objects.filter(pk__in=list(run_ids)).only(
        "id", "display_state", "started_at", "finished_at", "outputs", "meta")
    return {run.id: _summary(run, now) for run in runs}


def get_run_summary(run_id: str) -> RunSummary:
    summaries = get_run_summaries([run_id])
    if run_id not in summaries:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    return summaries[run_id]


def list_components() -> list[dict]:
    from pipeline_engine.core.components import all_components

    return [cls.describe() for cls in all_components()]
