"""What readers see of runs: status trees, node details and run summaries.

Each read takes a fixed number of queries whatever the size of the run, and
never writes. The state shown for a run or a subprocess is the core's one
rule (states.display_state).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from pipeline_engine.core import states as s
from pipeline_engine.core.components import get_component
from pipeline_engine.errors import NodeNotFound, RunNotFound

from . import tree_cache
from .models import NodeHistory, NodeLog, NodeState, Run
from .prepared import compiled_rows


@dataclass
class RunSummary:
    run_id: str
    state: str  # the displayed state
    start_time: datetime | None
    finish_time: datetime | None
    elapsed_time: int
    outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    # Why the run is stopped when it stopped on a failure (state FAILED): the ex_data of
    # its failed node(s), one per line in the order they were reached; else "".
    ex_data: str = ""


def _elapsed(start: datetime | None, finish: datetime | None, now: datetime) -> int:
    if start is None:
        return 0
    return max(0, int(((finish or now) - start).total_seconds()))


# --------------------------------------------------------------------------- status trees
_STATUS_COLUMNS = ("run_id", "key", "scope", "node_id", "name", "state", "version", "loop",
                   "retry", "skip", "error_ignored", "started_at", "finished_at")
# The run's columns, then its nodes' (_STATUS_COLUMNS after run_id) through the reverse
# relation: one LEFT JOIN, so the run's state and its nodes come from one snapshot.
_RUN_COLUMNS = ("id", "display_state", "started_at", "finished_at")
_JOINED_COLUMNS = (*_RUN_COLUMNS, *(f"nodes__{c}" for c in _STATUS_COLUMNS[1:]))


def _node_status(row: tuple[Any, ...], now: datetime) -> dict[str, Any]:
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
    """A running subprocess is shown FAILED / NODE_SUSPENDED when a node inside it is."""
    child_states = set()
    for child in status["children"].values():
        if child["children"]:
            _roll_up(child)
        child_states.add(child["state"])
    status["state"] = s.display_state(status["state"], child_states)


def status_trees(run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status trees of many runs in one query; unknown ids are left out.

    One statement matters: read separately, a step committing between the run read and
    the node read would show half of itself (a FAILED node under a root still RUNNING).
    """
    if len(run_ids) == 1:  # a status poll: its SQL compiled once per thread (prepared.py)
        joined = compiled_rows("engine.status_tree", lambda run_id: Run.objects.filter(pk=run_id).order_by(
            "nodes__started_at").values_list(*_JOINED_COLUMNS), run_id=run_ids[0])
    else:
        joined = list(Run.objects.filter(pk__in=list(run_ids)).order_by("nodes__started_at")
                      .values_list(*_JOINED_COLUMNS))
    return _fold_status(joined)


def status_tree_of(name: str, owner: Callable[..., QuerySet], /, *, run_field: str, extra: Sequence[str],
                   **params: Any) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
    """The status tree of the run that the one row `owner(**params)` names in its `run_field`, with
    that row's `extra` fields: (tree, extra values), or None when the row or its run is not found.

    One statement: the owner's row is read by subqueries of the run's read, so a caller that
    holds only its own row's key (a task's status poll) pays one round trip, not two, and sees
    its row and the run in one snapshot. `owner` must select at most one row; `name` names
    the shape, compiled once per thread as compiled_rows is."""
    def build(**markers: Any) -> QuerySet:
        own = owner(**markers)
        return (Run.objects.filter(pk=Subquery(own.values(run_field)[:1])).order_by("nodes__started_at")
                .values_list(*_JOINED_COLUMNS, *(Subquery(own.values(f)[:1]) for f in extra)))

    rows = compiled_rows(f"engine.status_tree_of:{name}", build, **params)
    if not rows:
        return None
    width = len(_JOINED_COLUMNS)
    trees = _fold_status([row[:width] for row in rows])
    return trees[rows[0][0]], tuple(rows[0][width:])


def _fold_status(joined: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """Status trees from the joined rows of runs and their nodes (_JOINED_COLUMNS)."""
    if not joined:
        return {}
    now = timezone.now()
    result: dict[str, dict[str, Any]] = {}
    statuses: dict[tuple[str, str], dict[str, Any]] = {}
    nodes: list[tuple[Any, ...]] = []
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
        run_id, key, scope = node[0], node[1], node[2]
        parent = result[run_id] if not scope else statuses.get((run_id, scope))
        if parent is not None:
            parent["children"][node[3]] = statuses[(run_id, key)]
    for root in result.values():
        for child in root["children"].values():
            if child["children"]:
                _roll_up(child)
    return result


def status_tree(run_id: str) -> dict[str, Any]:
    trees = status_trees([run_id])
    if run_id not in trees:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    return trees[run_id]


# --------------------------------------------------------------------------- node detail
def _outputs_format(code: str) -> list[dict[str, Any]]:
    if not code:
        return []
    try:
        cls = get_component(code)
    except KeyError:
        return []
    return [{"key": f.key, "name": f.name, "type": f.type} for f in cls.outputs_format]


def node_detail(run_id: str, node_id: str) -> dict[str, Any]:
    """Status fields plus inputs, outputs, ex_data, histories, component code and outputs format."""
    if not Run.objects.filter(pk=run_id).exists():
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    rows = list(NodeState.objects.filter(run_id=run_id, node_id=node_id))
    now = timezone.now()
    if not rows:
        tree = tree_cache.compiled_tree(run_id)
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


# --------------------------------------------------------------------------- attempts and logs
def node_executions(run_ids: list[str], node_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every recorded attempt of the nodes of these runs (all nodes, or those of `node_ids`):
    earlier passes (retries, loops) and the current one, each `{run_id, key, node_id, node_type,
    component_code, state, skip, loop, retry, version, start_time, finish_time, elapsed_time}`.

    Two queries whatever the number of runs: the current rows, then the histories.
    """
    now = timezone.now()
    current = NodeState.objects.filter(run_id__in=list(run_ids))
    earlier = NodeHistory.objects.filter(run_id__in=list(run_ids))
    if node_ids is not None:
        current, earlier = current.filter(node_id__in=node_ids), earlier.filter(node_id__in=node_ids)
    kinds: dict[tuple[str, str], tuple[str, str]] = {}
    attempts: list[dict[str, Any]] = []
    for row in current.values_list("run_id", "key", "node_id", "node_type", "component_code", "state", "skip",
                                   "loop", "retry", "version", "started_at", "finished_at").order_by("id"):
        run_id, key, node_id, node_type, code, state, skip, loop, retry, version, start, finish = row
        kinds[(run_id, key)] = (node_type, code)
        attempts.append({"run_id": run_id, "key": key, "node_id": node_id, "node_type": node_type,
                         "component_code": code, "state": state, "skip": skip, "loop": loop, "retry": retry,
                         "version": version, "start_time": start, "finish_time": finish,
                         "elapsed_time": _elapsed(start, finish, now)})
    for past in earlier.values_list("run_id", "key", "node_id", "state", "skip", "loop", "retry", "version",
                                    "started_at", "finished_at").order_by("id"):
        run_id, key, node_id, state, skip, loop, retry, version, start, finish = past
        node_type, code = kinds.get((run_id, key), ("", ""))
        attempts.append({"run_id": run_id, "key": key, "node_id": node_id, "node_type": node_type,
                         "component_code": code, "state": state, "skip": skip, "loop": loop, "retry": retry,
                         "version": version, "start_time": start, "finish_time": finish,
                         "elapsed_time": _elapsed(start, finish, now)})
    return attempts


def node_logs(run_id: str, node_id: str, version: str | None = None) -> list[dict[str, Any]]:
    """The logs of a node's attempts, oldest first (one attempt with `version`):
    `{version, lines: [[time, level, message], ...], truncated, size}`. One query."""
    rows = NodeLog.objects.filter(run_id=run_id, node_id=node_id)
    if version:
        rows = rows.filter(version=version)
    return [{"version": v, "lines": lines or [], "truncated": truncated, "size": size}
            for v, lines, truncated, size in rows.order_by("id").values_list("version", "lines", "truncated", "size")]


# --------------------------------------------------------------------------- summaries
def run_summaries(run_ids: list[str]) -> dict[str, RunSummary]:
    """Summaries of many runs: one query, and one more when some of them stopped on a failure."""
    now = timezone.now()
    runs = list(Run.objects.filter(pk__in=list(run_ids)).only(
        "id", "display_state", "started_at", "finished_at", "outputs", "meta"))
    failures: dict[str, list[str]] = {}
    failed = [run.id for run in runs if run.display_state == s.FAILED]
    if failed:
        for run_id, ex_data in (NodeState.objects.filter(run_id__in=failed, state=s.FAILED)
                                .order_by("id").values_list("run_id", "ex_data")):
            failures.setdefault(run_id, []).append(ex_data or "")
    return {run.id: RunSummary(
        run_id=run.id, state=run.display_state, start_time=run.started_at, finish_time=run.finished_at,
        elapsed_time=_elapsed(run.started_at, run.finished_at, now), outputs=run.outputs or {},
        meta=run.meta or {}, ex_data="\n".join(failures.get(run.id, [])),
    ) for run in runs}


def run_summary(run_id: str) -> RunSummary:
    summaries = run_summaries([run_id])
    if run_id not in summaries:
        raise RunNotFound(f"pipeline({run_id}) does not exist")
    return summaries[run_id]
