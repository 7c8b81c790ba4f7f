"""Reads on tasks, each a fixed number of queries whatever the size of the run or the business.

Reads never write. Until the end of a run is recorded on its task (the run_finished
signal, or the maintenance tick's `services.reconcile_run_ends`), the answers take
the run's state from the engine.
"""
from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet

from access_app.models import Business
from sops_common.errors import InvalidInput, NotFound
from sops_common.limits import MAX_TIMESTAMP_MS, check_list, loads, parse_id, parse_int, shown
from sops_common.prepared import compiled_first
from sops_common.timefmt import format_time, parse_time
from templates_app.models import Category, Template

from .models import FINAL_RUN_STATES, CreateMethod, FlowType, TaskInstance, TaskStatus

if TYPE_CHECKING:
    from pipeline_engine.api import RunSummary

# The exact answer for a task that has not started (no id, integer skip), as the original.
CREATED_STATUS: dict[str, Any] = {"start_time": None, "state": "CREATED", "retry": 0, "skip": 0,
                                  "finish_time": None, "elapsed_time": 0, "children": {}}


def _engine():
    from pipeline_engine import api

    return api


def _trees():
    # The engine's pure tree reading; not faked by the tests that fake runs (see _engine).
    from pipeline_engine import api

    return api


def get_task(business: Business, task_id: Any, *, with_tree: bool = True) -> TaskInstance:
    """The task, 404 outside the business. `with_tree=False` defers the (possibly large)
    pipeline_tree: reads that do not need it skip decoding hundreds of kilobytes of JSON."""
    pk = parse_id(task_id, "task_id")

    def build(pk: int) -> QuerySet[TaskInstance]:
        qs = TaskInstance.objects.filter(pk=pk)
        return (qs.defer("pipeline_tree") if not with_tree else qs)[:1]

    # Every task endpoint reads its task first: compiled once (sops_common.prepared), and the
    # business is the caller's, already read, so it is not joined again. The row is read by its
    # key alone and its scope checked here (see _started_task).
    task = compiled_first(f"get_task:{with_tree}", build, pk=pk)
    if task is None or task.business_id != business.pk or task.is_deleted:
        raise task_missing(business, pk)
    task.business = business
    return task


def task_missing(business: Business, pk: int) -> NotFound:
    """The error of a task id that names no task of `business` (deleted ones included)."""
    return NotFound(f"task[id={pk}] of business[bk_biz_id={business.bk_biz_id}] does not exist")


def end_flags(task: TaskInstance, run_state: str | None) -> tuple[bool, bool]:
    """(is_finished, is_revoked) of the task, from the engine's run state when the row does not say yet."""
    if task.is_finished or run_state not in FINAL_RUN_STATES:
        return task.is_finished, task.is_revoked
    return True, run_state == "REVOKED"


def get_task_by_id(task_id: Any, *, with_tree: bool = True) -> TaskInstance:
    """The task whatever its business (the caller checks access to `task.business`); 404 if absent."""
    pk = parse_id(task_id, "task_id")
    # The template is read for its name: its own tree (as large as the task's) stays unread.
    qs = TaskInstance.objects.select_related("business", "template").defer("template__pipeline_tree")
    if not with_tree:
        qs = qs.defer("pipeline_tree")
    task = qs.filter(pk=pk, is_deleted=False).first()
    if task is None:
        raise NotFound(f"task[id={pk}] does not exist")
    return task


# --- status -------------------------------------------------------------------------------------------

def format_status(node: dict, tz: Any, names: dict[str, str]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k not in ("children", "created_time")}
    out["start_time"] = format_time(node.get("start_time"), tz, empty=None)
    out["finish_time"] = format_time(node.get("finish_time"), tz, empty=None)
    if names.get(node.get("id") or ""):
        out["name"] = names[node["id"]]
    out["children"] = {cid: format_status(child, tz, names) for cid, child in (node.get("children") or {}).items()}
    return out


def status_of(task: TaskInstance, raw: dict | None, *, with_children: bool = True) -> dict[str, Any]:
    if not task.is_started or not task.run_id or raw is None:
        return copy.deepcopy(CREATED_STATUS)
    data = _named_status(raw, task.name, task.business)
    if not with_children:
        data["children"] = {}
    return data


def _named_status(raw: dict, name: str, business: Business) -> dict[str, Any]:
    # The engine names every node it reached (from the same tree), so the tree is not needed here.
    data = format_status(raw, business.tzinfo, {})
    data["name"] = name
    return data


def task_status(task: TaskInstance) -> dict[str, Any]:
    if not task.is_started or not task.run_id:
        return copy.deepcopy(CREATED_STATUS)
    return status_of(task, _engine().get_status_tree(task.run_id))


def _started_task(pk: int) -> QuerySet[TaskInstance]:
    """The started task `pk`, named by its key alone: the caller checks its business and deletion.

    A lookup that also named the business would let PostgreSQL choose the business's index over
    the primary key. It does, on a table it has no statistics of (autovacuum off, or a young
    table), and keeps that plan for the connection's prepared statement: each poll then read
    every task of the business. With the key alone, the primary key is the only index to use."""
    return TaskInstance.objects.filter(pk=pk, is_started=True).exclude(run_id="")


def task_status_by_id(business: Business, task_id: Any) -> dict[str, Any]:
    """task_status of the task `task_id` of `business`, for a caller that holds only its id (a
    status poll).

    A started task's status is one query: the engine reads the run the task names and the
    task's name with it. Anything else (no such task, not started, a run not found) falls back
    to reading the task first, whose answers (404, CREATED, the engine's error) are the rule."""
    pk = parse_id(task_id, "task_id")
    found = _engine().get_status_tree_of("task_status", _started_task, run_field="run_id",
                                         extra=("name", "business_id", "is_deleted"), pk=pk)
    if not found:
        return task_status(get_task(business, pk, with_tree=False))
    raw, (name, business_id, deleted) = found
    if business_id != business.pk or deleted:
        return task_status(get_task(business, pk, with_tree=False))  # its 404
    return _named_status(raw, name, business)


def task_node_states(task: TaskInstance) -> dict[str, Any]:
    """The run's displayed state and times, and each reached node's `(state, skip)` by path key.

    The compact form of task_status for a page that polls: one engine read (the run and its
    nodes in one query), no tree decoded and one time formatted per field, not per node. A
    key is the node's id, prefixed by its subprocesses' ids and "/" inside one.
    """
    tz = task.business.tzinfo
    if not task.is_started or not task.run_id:
        return {"state": "CREATED", "start_time": "", "finish_time": "", "elapsed_time": 0, "nodes": {}}
    raw = _engine().get_status_tree(task.run_id)
    nodes: dict[str, tuple[str, bool]] = {}
    pending = [("", raw.get("children") or {})]
    while pending:
        prefix, children = pending.pop()
        for node_id, child in children.items():
            nodes[prefix + node_id] = (child["state"], bool(child.get("skip")))
            if child.get("children"):
                pending.append((f"{prefix}{node_id}/", child["children"]))
    return {"state": raw["state"], "start_time": format_time(raw.get("start_time"), tz),
            "finish_time": format_time(raw.get("finish_time"), tz),
            "elapsed_time": int(raw.get("elapsed_time") or 0), "nodes": nodes}

def tasks_status(business: Business, task_ids: list[Any], *, include_children: bool = False) -> list[dict[str, Any]]:
    """Batch status: two queries on our side plus the engine's constant-query batch read."""
    ids = [parse_id(raw, "task_id_list item") for raw in task_ids]
    tasks = list(TaskInstance.objects.select_related("business")
                 .filter(business=business, is_deleted=False, pk__in=ids).order_by("pk"))
    run_ids = [t.run_id for t in tasks if t.is_started and t.run_id]
    trees = _engine().get_status_trees(run_ids) if run_ids else {}
    return [{
        "id": t.pk, "name": t.name, "flow_type": t.flow_type, "current_flow": t.current_flow,
        "is_started": t.is_started, "is_finished": end_flags(t, (trees.get(t.run_id) or {}).get("state"))[0],
        "status": status_of(t, trees.get(t.run_id), with_children=include_children),
        # The original's item fields beside status (later-endpoints.md §9); deleted tasks are left out here.
        "is_deleted": False, "create_time": format_time(t.create_time, t.business.tzinfo),
        "start_time": format_time(t.start_time, t.business.tzinfo),
        "finish_time": format_time(t.finish_time, t.business.tzinfo), "url": t.url,
    } for t in tasks]


# --- detail -------------------------------------------------------------------------------------------

def _summary(task: TaskInstance) -> RunSummary | None:
    if not task.is_started or not task.run_id:
        return None
    return _engine().get_run_summary(task.run_id)


def _outputs_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list):
        return {item["key"]: item.get("value") for item in raw if isinstance(item, dict) and "key" in item}
    return {}


def task_detail(task: TaskInstance) -> dict[str, Any]:
    tz = task.business.tzinfo
    tree = task.pipeline_tree
    constants = tree.get("constants") or {}
    summary = _summary(task)
    outputs: list[dict[str, Any]] = []
    ex_data = ""
    start_time, finish_time, elapsed = task.start_time, task.finish_time, task.elapsed_time
    is_finished, is_revoked = task.is_finished, task.is_revoked
    if summary is not None:
        is_finished, is_revoked = end_flags(task, summary.state)
        produced = _outputs_dict(summary.outputs)
        for key in tree.get("outputs") or []:
            if key in produced:
                outputs.append({"key": key, "value": produced[key], "name": (constants.get(key) or {}).get("name", key)})
        ex_data = summary.ex_data
        start_time = summary.start_time or start_time
        finish_time = summary.finish_time or finish_time
        elapsed = summary.elapsed_time or elapsed
    return {
        "id": task.pk,
        "name": task.name,
        "instance_name": task.name,
        "business_id": task.business.bk_biz_id,
        "business_name": task.business.name,
        "template_id": task.template_id,
        "template_source": task.template_source,
        "category": task.category,
        "flow_type": task.flow_type,
        "current_flow": task.current_flow,
        "create_time": format_time(task.create_time, tz),
        "create_method": task.create_method,
        "creator": task.creator,
        "executor": task.executor,
        "start_time": format_time(start_time, tz),
        "finish_time": format_time(finish_time, tz),
        "end_time": format_time(finish_time, tz),
        "elapsed_time": int(elapsed or 0),
        "is_started": task.is_started,
        "is_finished": is_finished,
        "is_revoked": is_revoked,
        "pipeline_tree": tree,
        "task_url": task.url,
        "constants": constants,
        "outputs": outputs,
        "ex_data": ex_data,
    }


# --- node detail --------------------------------------------------------------------------------------

def parse_subprocess_stack(raw: Any) -> list[str]:
    if raw in (None, ""):
        return []
    value = raw
    if isinstance(raw, str):
        try:
            value = loads(raw, "subprocess_stack")
        except ValueError as exc:
            raise InvalidInput("subprocess_stack is not a valid array json") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("subprocess_stack is not a valid array json")
    return value


def outputs_list(outputs: dict[str, Any], outputs_format: list[dict] | None, with_format: bool) -> list[dict]:
    result: list[dict] = []
    seen: set[str] = set()
    if with_format:
        for item in outputs_format or []:
            key = item.get("key") or ""
            seen.add(key)
            result.append({"name": item.get("name", key), "key": key, "value": outputs.get(key, ""), "preset": True})
    names = {i.get("key"): i.get("name") for i in outputs_format or []}
    for key, value in outputs.items():
        if key not in seen:
            result.append({"name": names.get(key) or key, "key": key, "value": value, "preset": False})
    return result


def _format_history(item: dict, tz: Any) -> dict[str, Any]:
    out = dict(item)
    out["start_time"] = format_time(item.get("start_time"), tz, empty=None)
    out["finish_time"] = format_time(item.get("finish_time"), tz, empty=None)
    out.setdefault("state", "FAILED")
    out.setdefault("children", {})
    return out


def node_detail(task: TaskInstance, node_id: str, *, component_code: str = "",
                subprocess_stack: list[str] | None = None) -> dict[str, Any]:
    from pipeline_engine.errors import EngineError, NodeNotFound

    if not node_id:
        raise InvalidInput("node_id is required")
    tz = task.business.tzinfo
    detail = None
    if task.is_started and task.run_id:
        try:
            detail = _engine().get_node_detail(task.run_id, node_id)
        except NodeNotFound:
            detail = None
    reached = detail is not None and not (detail.get("state") in ("READY", "CREATED")
                                          and not detail.get("start_time") and not detail.get("histories"))
    if detail is not None and reached and not subprocess_stack:
        # The engine knows the node and its name: the task's tree (large for big tasks) stays unread.
        node: dict[str, Any] = {"name": detail.get("name", "")}
    else:
        found, path = _trees().find_node(task.pipeline_tree, node_id, subprocess_stack or None)
        if found is None:
            raise NotFound(f"node[node_id={node_id}] not found in task[task_id={task.pk}]")
        node = found
    if detail is None or not reached:
        # Not reached yet: say so, with the inputs the node would get now.
        ex_data = ""
        inputs: dict[str, Any] = {}
        if node.get("type") == _trees().SERVICE_ACTIVITY:
            try:
                inputs = _engine().preview_node_inputs(task.pipeline_tree, node_id, path)
            except EngineError as exc:
                ex_data = exc.message
        return {
            "id": node_id, "name": node.get("name", ""),
            "state": "READY" if task.is_started else "CREATED",
            "error_ignorable": bool(node.get("error_ignorable", False)),
            "retry": 0, "skip": False, "loop": 1, "version": "",
            "start_time": None, "finish_time": None, "elapsed_time": 0,
            "inputs": inputs, "outputs": [], "ex_data": ex_data, "histories": [], "children": {},
            "component_code": ((node.get("component") or {}).get("code")) or "",
        }
    out = {k: v for k, v in detail.items() if k not in ("outputs_format", "children", "histories", "created_time")}
    out["name"] = node.get("name") or detail.get("name", "")
    out["start_time"] = format_time(detail.get("start_time"), tz, empty=None)
    out["finish_time"] = format_time(detail.get("finish_time"), tz, empty=None)
    outputs = detail.get("outputs") or {}
    out["outputs"] = outputs_list(outputs if isinstance(outputs, dict) else _outputs_dict(outputs),
                                   detail.get("outputs_format"), bool(component_code))
    out["histories"] = [_format_history(h, tz) for h in detail.get("histories") or []]
    out["children"] = {}
    out.setdefault("inputs", {})
    out.setdefault("ex_data", None)
    return out


# --- count and list -----------------------------------------------------------------------------------

GROUP_BY = ("status", "category", "flow_type", "create_method")
_DROPPED_KEYS = {"component_code", "order_by", "type", "is_remote", "version"}
_TEXT = {"exact", "iexact", "contains", "icontains", "startswith", "in"}
_TIME = {"gte", "lte", "gt", "lt"}
# field -> (allowed lookups, kind). Nothing else reaches the ORM: the business scope cannot be widened.
CONDITION_FIELDS: dict[str, tuple[set[str], str]] = {
    "id": ({"exact", "in"}, "int"),
    "template_id": ({"exact", "in"}, "int"),
    "name": (_TEXT, "str"),
    "creator": (_TEXT, "str"),
    "executor": (_TEXT, "str"),
    "category": ({"exact", "in"}, "str"),
    "flow_type": ({"exact", "in"}, "str"),
    "create_method": ({"exact", "in"}, "str"),
    "template_source": ({"exact", "in"}, "str"),
    "create_time": (_TIME, "time"),
    "start_time": (_TIME, "time"),
    "finish_time": (_TIME, "time"),
    "is_started": ({"exact"}, "bool"),
    "is_finished": ({"exact"}, "bool"),
    "is_revoked": ({"exact"}, "bool"),
}


def _as_time(value: Any, tz: Any) -> dt.datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Millisecond timestamps, as the original's bare create_time/finish_time.
        if not 0 <= value <= MAX_TIMESTAMP_MS:
            raise ValueError(f"{shown(value)} is not a millisecond timestamp from 0 to {MAX_TIMESTAMP_MS}")
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return _as_time(parse_int(value, "timestamp", minimum=0, maximum=MAX_TIMESTAMP_MS), tz)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time")
    return parse_time(value, tz)


def _coerce(value: Any, kind: str, lookup: str, tz: Any) -> Any:
    if lookup == "in":
        items = value if isinstance(value, list) else [v for v in str(value).split(",") if v != ""]
        return [_coerce(v, kind, "exact", tz) for v in check_list(items, "a list")]
    if kind == "int":
        return parse_int(value, "value")
    if kind == "str":
        if isinstance(value, dict | list):
            raise ValueError("a string is needed")
        return str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError("a boolean is needed")
    return _as_time(value, tz)


def condition_filters(conditions: Any, tz: Any) -> Q:
    if conditions in (None, ""):
        return Q()
    if isinstance(conditions, str):
        try:
            conditions = loads(conditions, "conditions")
        except ValueError:
            pass
    if not isinstance(conditions, dict):
        raise InvalidInput(f"query_task_list params conditions[{shown(conditions)}] are invalid dict data")
    q = Q()
    for raw_key, value in conditions.items():
        if raw_key in _DROPPED_KEYS or value in ("None", "") or value is None:
            continue
        key = raw_key[len("pipeline_instance__"):] if raw_key.startswith("pipeline_instance__") else raw_key
        try:
            if key == "create_time":
                q &= Q(create_time__gte=_as_time(value, tz))
                continue
            if key == "finish_time":
                # The original's odd rule: a bare finish_time bounds the creation day.
                q &= Q(create_time__lt=_as_time(value, tz) + dt.timedelta(days=1))
                continue
            field, _, lookup = key.partition("__")
            lookup = lookup or "exact"
            spec = CONDITION_FIELDS.get(field)
            if spec is None or lookup not in spec[0]:
                raise ValueError(f"unsupported condition {raw_key}")
            q &= Q(**{f"{field}__{lookup}": _coerce(value, spec[1], lookup, tz)})
        except (ValueError, TypeError, OverflowError, OSError, InvalidInput) as exc:
            # OSError: the platform's limit on timestamps (fromtimestamp of 10**17 seconds)
            reason = exc.message if isinstance(exc, InvalidInput) else str(exc)
            raise InvalidInput(f"query_task_list params conditions[{shown(conditions)}] have invalid key or value: "
                             f"{shown(raw_key)}: {reason}") from exc
    return q


def business_tasks(business: Business) -> QuerySet[TaskInstance]:
    return TaskInstance.objects.filter(business=business, is_deleted=False)


def task_count(business: Business, group_by: Any, conditions: Any) -> dict[str, Any]:
    """One grouped query; the total is the sum of the groups."""
    if group_by not in GROUP_BY:
        raise InvalidInput(f"query_task_list params group_by[{group_by}] is invalid")
    # The business filter is applied after the conditions, so no condition can replace it.
    qs = TaskInstance.objects.filter(condition_filters(conditions, business.tzinfo)).filter(
        business=business, is_deleted=False)
    if group_by == "status":
        counts = {TaskStatus.CREATED: 0, TaskStatus.EXECUTING: 0, TaskStatus.FINISHED: 0}
        for row in qs.values("is_started", "is_finished").annotate(n=Count("id")).order_by():
            if row["is_finished"]:
                counts[TaskStatus.FINISHED] += row["n"]
            elif row["is_started"]:
                counts[TaskStatus.EXECUTING] += row["n"]
            else:
                counts[TaskStatus.CREATED] += row["n"]
        groups = [{"code": str(code), "name": str(TaskStatus(code).label), "value": n} for code, n in counts.items()]
    else:
        choices = {"category": Category, "flow_type": FlowType, "create_method": CreateMethod}[group_by]
        found = {row[group_by]: row["n"] for row in qs.values(group_by).annotate(n=Count("id")).order_by()}
        groups = [{"code": code, "name": str(label), "value": found.pop(code, 0)} for code, label in choices.choices]
        groups += [{"code": code, "name": code, "value": n} for code, n in found.items()]
    return {"total": sum(g["value"] for g in groups), "groups": groups}


#: What each role may do to a task, in the original's auth_actions names (get_task_list).
AUTH_ACTIONS = {
    "viewer": ["task_view"],
    "operator": ["task_view", "task_edit", "task_operate", "task_claim", "task_clone"],
    "maintainer": ["task_view", "task_edit", "task_operate", "task_claim", "task_delete", "task_clone"],
}


def task_summary(task: TaskInstance, role: str | None = None) -> dict[str, Any]:
    tz = task.business.tzinfo
    if task.is_revoked:
        state = "REVOKED"
    else:
        state = str(task.status)
    return {
        "id": task.pk, "name": task.name, "category": task.category,
        "bk_biz_id": task.business.bk_biz_id, "bk_biz_name": task.business.name,
        "template_id": task.template_id, "template_source": task.template_source,
        "flow_type": task.flow_type, "current_flow": task.current_flow,
        "create_method": task.create_method, "creator": task.creator, "executor": task.executor,
        "create_time": format_time(task.create_time, tz), "start_time": format_time(task.start_time, tz),
        "finish_time": format_time(task.finish_time, tz), "elapsed_time": task.elapsed_time,
        "is_started": task.is_started, "is_finished": task.is_finished, "is_revoked": task.is_revoked,
        "state": state, "task_url": task.url,
        # The original's names for the same things, and what the caller may do (later-endpoints.md §9).
        "category_name": str(Category(task.category).label) if task.category in Category.values else task.category,
        "project_id": task.business.bk_biz_id, "project_name": task.business.name, "is_child_taskflow": False,
        "auth_actions": AUTH_ACTIONS.get(role or "", []),
    }


LIST_STATES = {
    "CREATED": Q(is_started=False),
    "EXECUTING": Q(is_started=True, is_finished=False),
    "RUNNING": Q(is_started=True, is_finished=False),
    "FINISHED": Q(is_finished=True, is_revoked=False),
    "REVOKED": Q(is_revoked=True),
}


def task_list(business: Business, *, keyword: str = "", creator: str = "", executor: str = "",
              state: str = "", is_started: bool | None = None, is_finished: bool | None = None,
              template_id: int | None = None, template_ids: str = "", is_child_taskflow: bool | None = None,
              role: str | None = None, create_method: str = "",
              create_time_start: str = "", create_time_end: str = "",
              offset: int = 0, limit: int = 100, with_count: bool = True) -> tuple[list[dict[str, Any]], int | None]:
    tz = business.tzinfo
    qs = business_tasks(business).select_related("business").defer("pipeline_tree")
    if keyword:
        qs = qs.filter(name__icontains=keyword)
    if creator:
        qs = qs.filter(creator=creator)
    if executor:
        qs = qs.filter(executor=executor)
    if state:
        if state not in LIST_STATES:
            raise InvalidInput(f"state must be one of {', '.join(LIST_STATES)}")
        qs = qs.filter(LIST_STATES[state])
    if is_started is not None:
        qs = qs.filter(is_started=is_started)
    if is_finished is not None:
        qs = qs.filter(is_finished=is_finished)
    if template_id is not None:
        qs = qs.filter(template_id=template_id)
    if template_ids:
        qs = qs.filter(template_id__in=[parse_id(i.strip(), "template_ids") for i in template_ids.split(",")
                                        if i.strip()])
    if is_child_taskflow:  # sops runs subprocesses inside their task: no task is a child task
        qs = qs.none()
    if create_method:
        qs = qs.filter(create_method__in=create_method.split(","))
    try:
        if create_time_start:
            qs = qs.filter(create_time__gte=parse_time(create_time_start, tz))
        if create_time_end:
            qs = qs.filter(create_time__lte=parse_time(create_time_end, tz))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    count = qs.count() if with_count else None
    items = [task_summary(t, role) for t in qs.order_by("-id")[offset:offset + limit]]
    return items, count


def preview_tree(business: Business, template: Template, exclude_task_nodes_id: list[str]) -> dict[str, Any]:
    """The tree a task would get (template node ids kept), and the constants that pruning drops.

    A template whose unfolding exceeds the expansion budget is refused here as create_task would
    refuse it (the unfolding, on a copy, is not shown: the preview keeps the template's own levels).
    """
    from pipeline_engine.errors import TreeInvalid
    from templates_app.subprocesses import check_unfolded_expansion, template_label

    check_unfolded_expansion(template.pipeline_tree, business, (template.pk,), label=template_label(template))
    try:
        tree = _trees().prepare_task_tree(template.pipeline_tree, exclude_task_nodes_id=exclude_task_nodes_id)
    except TreeInvalid as exc:
        raise InvalidInput(exc.message) from exc
    original = template.pipeline_tree.get("constants") or {}
    dropped = {k: v for k, v in original.items() if k not in tree["constants"]}
    return {"pipeline_tree": tree, "constants_not_referred": dropped}
