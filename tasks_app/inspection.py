"""Reads behind the task inspection endpoints: node data with loop and execution-time history, the
manual-intervention state of a batch, functionalization tickets, counts, effective run time, the
audit log and the components' logs.

Selectors: nothing here writes. Each read is a fixed number of queries except where a docstring
names the bound (the execution-time history scans at most EXECUTION_TIME_SCAN tasks).
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from access_app.models import Business, BusinessMember
from sops_common import limits
from sops_common.errors import InvalidInput, NotFound
from sops_common.timefmt import format_time, parse_time
from templates_app.models import Category

from . import selectors
from .models import CurrentFlow, FlowType, OperateType, TaskInstance, TaskOperation


def _engine():
    # Late, as in selectors: the apps import without the engine's models being ready.
    from pipeline_engine import api

    return api


# --- get_task_node_data -------------------------------------------------------------------------------

#: How many recent started tasks of the same template the execution-time history looks through
#: for runs of the template node (their trees are read to find the node): a bound on the read.
EXECUTION_TIME_SCAN = 50


def recorded_execution_times() -> int:
    """BKAPP_MAX_RECORDED_NODE_EXECUTION_TIMES of the original, as SOPS_MAX_RECORDED_NODE_EXECUTION_TIMES."""
    return int(getattr(settings, "SOPS_MAX_RECORDED_NODE_EXECUTION_TIMES", 5))


def _capturing_constants(tree: dict[str, Any], node_id: str) -> dict[str, str]:
    """{output key: the global variable that captures it} for the node."""
    renamed: dict[str, str] = {}
    for key, const in (tree.get("constants") or {}).items():
        if isinstance(const, dict) and const.get("source_type") == "component_outputs":
            for output in (const.get("source_info") or {}).get(node_id) or []:
                renamed.setdefault(output, key)
    return renamed


def _component_outputs_format(code: str) -> list[dict[str, Any]]:
    for component in _engine().list_components():
        if component["code"] == code:
            return list(component.get("outputs") or [])
    return []


def _level_of(tree: dict[str, Any], stack: list[str]) -> dict[str, Any]:
    level = tree
    for sub_id in stack:
        level = ((level.get("activities") or {}).get(sub_id) or {}).get("pipeline") or {}
    return level


def execution_times(task: TaskInstance, template_node_id: str) -> list[dict[str, Any]]:
    """The last N finished, not skipped runs of one template node across the template's tasks,
    newest first: `{archived_time (ISO 8601, server time zone), elapsed_time (s)}`.

    The original documents this and stopped returning it (its answer serializer lost it, see
    docs/differences.md). N is SOPS_MAX_RECORDED_NODE_EXECUTION_TIMES; the tasks looked at are the
    EXECUTION_TIME_SCAN most recent started ones of the template. Two queries for the tasks and
    two for the engine's attempts.
    """
    limit = recorded_execution_times()
    if not template_node_id or task.template_id is None or limit <= 0:
        return []
    rows = (TaskInstance.objects.filter(template_id=task.template_id, is_started=True, is_deleted=False)
            .exclude(run_id="").order_by("-id").values_list("run_id", "pipeline_tree")[:EXECUTION_TIME_SCAN])
    pairs: set[tuple[str, str]] = set()
    for run_id, tree in rows:
        for node_id, act in ((tree or {}).get("activities") or {}).items():
            if isinstance(act, dict) and act.get("template_node_id") == template_node_id:
                pairs.add((run_id, node_id))
    if not pairs:
        return []
    attempts = _engine().get_node_executions(sorted({r for r, _ in pairs}), sorted({n for _, n in pairs}))
    done = [a for a in attempts if (a["run_id"], a["key"]) in pairs and a["state"] == "FINISHED"
            and not a["skip"] and a["finish_time"] is not None]
    done.sort(key=lambda a: a["finish_time"], reverse=True)
    return [{"archived_time": timezone.localtime(a["finish_time"]).isoformat(), "elapsed_time": a["elapsed_time"]}
            for a in done[:limit]]


def node_data(task: TaskInstance, node_id: str, *, component_code: str = "",
              subprocess_stack: list[str] | None = None, loop: int | None = None,
              template_node_id: str = "") -> dict[str, Any]:
    """A node's inputs, outputs (renamed to the global variable capturing them) and failure detail,
    for its latest loop or an earlier one (`loop`), with the template node's execution-time history."""
    detail = selectors.node_detail(task, node_id, component_code=component_code, subprocess_stack=subprocess_stack)
    found, path = _engine().find_node(task.pipeline_tree, node_id, subprocess_stack or None)
    node = found or {}
    inputs: dict[str, Any] = detail.get("inputs") or {}
    outputs: list[dict[str, Any]] = detail.get("outputs") or []
    ex_data = detail.get("ex_data") or ""
    if loop is not None and loop < int(detail.get("loop") or 1):
        runs = [h for h in detail.get("histories") or [] if h.get("loop") == loop]
        if not runs:
            inputs, outputs, ex_data = {}, [], ""
        else:
            run = runs[-1]  # the last attempt of that loop is what the loop left
            code = component_code or detail.get("component_code") or ""
            inputs = run.get("inputs") or {}
            raw = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
            outputs = selectors.outputs_list(raw, _component_outputs_format(code), bool(component_code))
            ex_data = run.get("ex_data") or ""
    if node.get("type") == _engine().SUB_PROCESS:
        inputs = {(k[2:-1] if k.startswith("${") and k.endswith("}") else k): v for k, v in inputs.items()}
    renamed = _capturing_constants(_level_of(task.pipeline_tree, path), node_id)
    outputs = [{**o, "key": renamed.get(o["key"], o["key"])} for o in outputs]
    if not component_code:  # as the original: only declared outputs (with component_code) carry a name
        outputs = [{k: v for k, v in o.items() if k != "name"} for o in outputs]
    # Declared outputs first in their declared order, the others by key: the same answer whatever
    # order the database keeps a JSON object's keys in (PostgreSQL's jsonb sorts them its own way).
    outputs = [o for o in outputs if o.get("preset")] + sorted((o for o in outputs if not o.get("preset")),
                                                               key=lambda o: str(o["key"]))
    return {"inputs": inputs, "outputs": outputs, "ex_data": ex_data if isinstance(ex_data, str) else str(ex_data),
            "execution_time": execution_times(task, template_node_id or str(node.get("template_node_id") or ""))}


# --- get_tasks_manual_intervention_state ---------------------------------------------------------------

#: The original refuses a batch of 10 or more ("task_ids_list length can not exceeds 10"): 9 at most.
MANUAL_INTERVENTION_BATCH = 9
_WAITING_FOR_A_HUMAN = {"FAILED", "SUSPENDED", "NODE_SUSPENDED"}


def _running_nodes(status: dict[str, Any], stack: tuple[str, ...] = ()) -> Iterable[tuple[str, list[str]]]:
    for node_id, child in (status.get("children") or {}).items():
        if child.get("state") == "RUNNING":
            yield node_id, list(stack)
        if child.get("children"):
            yield from _running_nodes(child, (*stack, node_id))


def _states(status: dict[str, Any]) -> Iterable[str]:
    yield status.get("state") or ""
    for child in (status.get("children") or {}).values():
        yield from _states(child)


def _needs_a_human(task: TaskInstance, status: dict[str, Any] | None) -> bool:
    """The original's rule, in its order (see later-endpoints.md §8)."""
    if not task.is_started or status is None:
        return False
    if status.get("state") in ("CREATED", "FINISHED", "REVOKED"):
        return False
    if any(state in _WAITING_FOR_A_HUMAN for state in _states(status)):
        return True
    running = list(_running_nodes(status))
    if not running:
        return False
    tree = TaskInstance.objects.filter(pk=task.pk).values_list("pipeline_tree", flat=True).first() or {}
    for node_id, stack in running:
        found, _path = _engine().find_node(tree, node_id, stack or None)
        if found and ((found.get("component") or {}).get("code")) == "pause_node":
            return True
    return False


def manual_intervention_states(business: Business, task_ids: list[int]) -> list[dict[str, Any]]:
    """Whether each task of the business waits for a person; unknown ids are left out; newest id first.

    Two queries and one engine read for the batch, plus one tree read per task that has a
    RUNNING node (to see whether it is a pause_node).
    """
    if len(task_ids) > MANUAL_INTERVENTION_BATCH:
        raise InvalidInput(f"task_id_list holds at most {MANUAL_INTERVENTION_BATCH} ids")
    tasks = list(TaskInstance.objects.filter(business=business, pk__in=task_ids, is_deleted=False)
                 .defer("pipeline_tree").order_by("-id"))
    statuses = _engine().get_status_trees([t.run_id for t in tasks if t.is_started and t.run_id])
    return [{"id": t.pk, "manual_intervention_required": _needs_a_human(t, statuses.get(t.run_id))} for t in tasks]


# --- pagination and raw times (later-endpoints.md §0.8, §0.10) ------------------------------------------

DEFAULT_LIMIT, MAX_LIMIT = 100, 200


def page_bounds(offset: Any, limit: Any) -> tuple[int, int]:
    """The list helpers' paging: offset 0 and limit 100 by default, a limit above 200 capped to 200."""
    values = []
    for name, value, default in (("offset", offset, 0), ("limit", limit, DEFAULT_LIMIT)):
        if value in (None, ""):
            values.append(default)
            continue
        try:
            number = limits.parse_int(value, name, minimum=0, maximum=limits.MAX_OFFSET)
        except InvalidInput as exc:
            raise InvalidInput(f"[API] pagination error: {exc.message}") from exc
        values.append(number)
    return values[0], min(values[1], MAX_LIMIT)



def raw_time(value: dt.datetime | None, zone: zoneinfo.ZoneInfo | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and Z (null when unset), or, with expected_timezone,
    `YYYY-mm-dd HH:MM:SS +zzzz` in that zone ("" when unset): the original's two renderings."""
    if zone is not None:
        return format_time(value, zone)
    if value is None:
        return None
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# --- get_functionalization_task_list -------------------------------------------------------------------

TICKET_STATUSES = ("submitted", "claimed", "rejected", "executed", "finished")
EXECUTE_STATUSES = ("nonExecution", "running", "revoked", "finished")
_TICKET_STATUS_FILTERS = {
    "submitted": Q(current_flow=CurrentFlow.FUNC_CLAIM),
    "claimed": Q(current_flow=CurrentFlow.EXECUTE_TASK, is_started=False),
    "rejected": Q(pk__in=[]),  # sops has no rejection: a ticket is claimed or waits
    "executed": Q(is_started=True, is_finished=False),
    "finished": Q(is_finished=True),
}
_EXECUTE_STATUS_FILTERS = {
    "nonExecution": Q(is_started=False),
    "running": Q(is_started=True, is_finished=False, is_revoked=False),
    "revoked": Q(is_revoked=True),
    "finished": Q(is_finished=True, is_revoked=False),
}


def visible_businesses(user: User) -> QuerySet[Business]:
    """The businesses the user holds a role in (every one for a superuser)."""
    if user.is_superuser:
        return Business.objects.all()
    return Business.objects.filter(pk__in=BusinessMember.objects.filter(user=user).values("business_id"))


def ticket_status(task: TaskInstance) -> str:
    if task.current_flow == CurrentFlow.FUNC_CLAIM:
        return "submitted"
    if task.is_finished:
        return "finished"
    return "executed" if task.is_started else "claimed"


def _ids(raw: str, name: str) -> list[int]:
    try:
        return [limits.parse_id(part.strip(), name) for part in raw.split(",") if part.strip()]
    except InvalidInput as exc:
        raise InvalidInput(f"{name} must be comma-separated ids: {exc.message}") from exc


@dataclass(frozen=True)
class TicketFilters:
    status: str = ""
    execute_status: str = ""
    id_in: str = ""
    task_id_in: str = ""
    project_id: int | None = None
    creator: str = ""
    claimant: str = ""
    create_time_gte: str = ""
    create_time_lte: str = ""


def functionalization_tasks(user: User, filters: TicketFilters, *, offset: int, limit: int,
                            zone: zoneinfo.ZoneInfo | None) -> tuple[list[dict[str, Any]], int]:
    """The functionalization tickets (common_func tasks) of the businesses the user may see,
    newest first, and how many match. A ticket's id is its task's id. Three queries."""
    qs = (TaskInstance.objects.filter(flow_type=FlowType.COMMON_FUNC, is_deleted=False,
                                      business__in=visible_businesses(user))
          .select_related("business").defer("pipeline_tree"))
    if filters.status:
        if filters.status not in _TICKET_STATUS_FILTERS:
            raise InvalidInput(f"status must be one of {'/'.join(TICKET_STATUSES)}")
        qs = qs.filter(_TICKET_STATUS_FILTERS[filters.status])
    if filters.execute_status:
        if filters.execute_status not in _EXECUTE_STATUS_FILTERS:
            raise InvalidInput(f"execute_status must be one of {'/'.join(EXECUTE_STATUSES)}")
        qs = qs.filter(_EXECUTE_STATUS_FILTERS[filters.execute_status])
    for raw, name in ((filters.id_in, "id_in"), (filters.task_id_in, "task_id_in")):
        if raw:
            qs = qs.filter(pk__in=_ids(raw, name))
    if filters.project_id is not None:
        qs = qs.filter(business__bk_biz_id=filters.project_id)
    if filters.creator:
        qs = qs.filter(creator__icontains=filters.creator)
    if filters.claimant:
        qs = qs.filter(claimer__icontains=filters.claimant)
    zone_for_input = zone or zoneinfo.ZoneInfo(settings.TIME_ZONE)
    try:
        if filters.create_time_gte:
            qs = qs.filter(create_time__gte=parse_time(filters.create_time_gte, zone_for_input))
        if filters.create_time_lte:
            qs = qs.filter(create_time__lte=parse_time(filters.create_time_lte, zone_for_input))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    count = qs.count()
    page = list(qs.order_by("-id")[offset:offset + limit])
    claims = dict(TaskOperation.objects.filter(task_id__in=[t.pk for t in page], operate_type=OperateType.CLAIM)
                  .order_by("id").values_list("task_id", "operate_date"))
    categories = dict(Category.choices)
    items = []
    for t in page:
        items.append({
            "id": t.pk, "name": t.name, "creator": t.creator, "claimant": t.claimer, "rejecter": "",
            "predecessor": "", "create_time": raw_time(t.create_time, zone),
            "claim_time": raw_time(claims.get(t.pk), zone), "reject_time": raw_time(None, zone),
            "transfer_time": raw_time(None, zone), "status": ticket_status(t),
            "task": {
                "id": t.pk, "name": t.name, "category": str(categories.get(t.category, t.category)),
                "create_method": t.create_method, "creator": t.creator, "executor": t.executor,
                "start_time": raw_time(t.start_time, zone), "finish_time": raw_time(t.finish_time, zone),
                "is_started": t.is_started, "is_finished": t.is_finished, "template_source": t.template_source,
                "template_id": str(t.template_id or ""), "is_child_taskflow": False,
                "project_id": t.business.bk_biz_id, "project_name": t.business.name,
                "bk_biz_id": t.business.bk_biz_id, "bk_biz_name": t.business.name,
            },
        })
    return items, count


# --- get_task_count ------------------------------------------------------------------------------------

_FALSE = {"", "false", "0", "no", "off", "none", "null"}


def _django_bool(value: Any) -> bool:
    """A query value as Django's form BooleanField reads it (`false`, `0`, empty: false)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in _FALSE


def count_tasks(business: Business, params: dict[str, Any]) -> int:
    """The business's tasks matching the filters present (each applies whenever its key is given,
    even empty, as the original). One query."""
    qs = TaskInstance.objects.filter(business=business, is_deleted=False)
    if "keyword" in params:
        qs = qs.filter(name__icontains=str(params["keyword"]))
    for name in ("is_started", "is_finished"):
        if name in params:
            qs = qs.filter(**{name: _django_bool(params[name])})
    for name in ("executor", "create_method"):
        if name in params:
            qs = qs.filter(**{name: str(params[name])})
    if "template_id" in params:
        qs = qs.filter(template_id=limits.parse_id(params["template_id"], "template_id"))
    return qs.count()


# --- get_task_effective_time ---------------------------------------------------------------------------

def excluded_component_codes() -> list[str]:
    """SOPS_MANUAL_WAITING_COMPONENT_CODES: components whose time is a person's, not the task's."""
    return [c for c in getattr(settings, "SOPS_MANUAL_WAITING_COMPONENT_CODES", []) if c]


_PARALLEL = ("ParallelGateway", "ConditionalParallelGateway")


class _Walk:
    """The effective time of one tree level: activities in sequence add up, a fork takes its longest
    branch, and the walk goes on after the branches meet (the original stops at the first converge
    gateway; see docs/differences.md)."""

    def __init__(self, level: dict[str, Any], prefix: str, elapsed: dict[str, int], codes: dict[str, str],
                 excluded: set[str], details: list[dict[str, Any]]) -> None:
        self.level, self.prefix, self.elapsed, self.codes = level, prefix, elapsed, codes
        self.excluded, self.details = excluded, details
        self.nodes = _engine().all_nodes(level)
        self.flows = level.get("flows") or {}
        self.visited: set[str] = set()

    def targets(self, node: dict[str, Any]) -> list[str]:
        return [self.flows[f]["target"] for f in _engine().as_list(node.get("outgoing")) if f in self.flows]

    def key(self, node_id: str) -> str:
        return f"{self.prefix}/{node_id}" if self.prefix else node_id

    def node_time(self, node_id: str, node: dict[str, Any]) -> int:
        if node.get("type") == _engine().SUB_PROCESS:
            child = _Walk(node.get("pipeline") or {}, self.key(node_id), self.elapsed, self.codes, self.excluded,
                          self.details)
            return child.total()
        key = self.key(node_id)
        code = ((node.get("component") or {}).get("code")) or self.codes.get(key, "")
        excluded = code in self.excluded
        seconds = 0 if excluded else self.elapsed.get(key, 0)
        self.details.append({"node_id": node_id, "key": key, "component_code": code, "excluded": excluded,
                             "elapsed_time": self.elapsed.get(key, 0), "counted_time": seconds})
        return seconds

    def segment(self, node_id: str) -> tuple[int, str | None]:
        """Time from `node_id` to the end or to the converge gateway that closes the caller's fork."""
        total = 0
        current: str | None = node_id
        while current is not None:
            if current in self.visited:  # a loop back: each node's runs are already summed once
                return total, None
            node = self.nodes.get(current) or {}
            kind = node.get("type", "")
            if kind == "ConvergeGateway":
                return total, current
            self.visited.add(current)
            if kind == "EmptyEndEvent" or not node:
                return total, None
            if kind in ("ServiceActivity", _engine().SUB_PROCESS):
                total += self.node_time(current, node)
                nexts = self.targets(node)
                current = nexts[0] if nexts else None
                continue
            if kind in (*_PARALLEL, "ExclusiveGateway"):
                branches = [self.segment(target) for target in self.targets(node)]
                total += max((t for t, _c in branches), default=0)
                met = node.get("converge_gateway_id") or next((c for _t, c in branches if c), None)
                if not met or met not in self.nodes:
                    return total, None
                self.visited.add(met)
                nexts = self.targets(self.nodes[met])
                current = nexts[0] if nexts else None
                continue
            nexts = self.targets(node)  # start event and anything else: pass through
            current = nexts[0] if nexts else None
        return total, None

    def total(self) -> int:
        start = self.level.get("start_event") or {}
        if not start.get("id"):
            return 0
        total, met = self.segment(start["id"])
        while met is not None:  # a converge gateway reached outside any fork of this walk
            self.visited.add(met)
            nexts = self.targets(self.nodes.get(met) or {})
            if not nexts:
                break
            more, met = self.segment(nexts[0])
            total += more
        return total


def effective_time(task: TaskInstance, *, debug: bool = False) -> dict[str, Any]:
    """The task's run time without the time its manual-waiting components spent (see _Walk)."""
    if not task.is_finished:
        raise InvalidInput(f"task[id={task.pk}] is not finished yet")
    revoked = task.is_revoked or TaskOperation.objects.filter(task_id=task.pk, operate_type=OperateType.REVOKE).exists()
    if revoked:
        raise InvalidInput(f"task[id={task.pk}] was revoked, cannot calculate effective time")
    excluded = excluded_component_codes()
    attempts = _engine().get_node_executions([task.run_id]) if task.run_id else []
    elapsed: dict[str, int] = {}
    codes: dict[str, str] = {}
    excluded_rows = 0
    for a in attempts:
        if a["node_type"] not in ("ServiceActivity", ""):
            continue
        elapsed[a["key"]] = elapsed.get(a["key"], 0) + int(a["elapsed_time"])
        codes[a["key"]] = a["component_code"]
        excluded_rows += a["component_code"] in excluded
    total_rows = sum(1 for a in attempts if a["node_type"] in ("ServiceActivity", ""))
    details: list[dict[str, Any]] = []
    effective = _Walk(task.pipeline_tree, "", elapsed, codes, set(excluded), details).total()
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    total_elapsed = task.elapsed_time
    data: dict[str, Any] = {
        "task_instance_id": task.pk, "instance_id": task.pk, "project_id": task.business.bk_biz_id,
        "template_id": str(task.template_id or ""), "task_template_id": str(task.template_id or ""),
        "creator": task.creator, "create_method": task.create_method, "category": task.category,
        "create_time": format_time(task.create_time, tz, empty=None),
        "start_time": format_time(task.start_time, tz, empty=None),
        "finish_time": format_time(task.finish_time, tz, empty=None),
        # Bounded by the wall time: a node's attempts cannot have taken longer than the task.
        "total_elapsed_time": total_elapsed, "effective_time": min(effective, total_elapsed),
        "excluded_node_count": excluded_rows, "total_node_count": total_rows,
        "excluded_component_codes": excluded,
    }
    if debug:
        data["debug"] = {"node_details": details, "parallel_gateways": [],
                         "raw_data": {"node_statistics": [{**a, "start_time": format_time(a["start_time"], tz, None),
                                                           "finish_time": format_time(a["finish_time"], tz, None)}
                                                          for a in attempts],
                                      "task_statistics": {"elapsed_time": total_elapsed},
                                      "user_operations": task_operations(task)}}
    return data


# --- get_task_operate_record ---------------------------------------------------------------------------

def task_operations(task: TaskInstance, node_id: str | None = None) -> list[dict[str, Any]]:
    """The task's audit log (one node's with `node_id`), in the order the operations happened. One query."""
    rows = TaskOperation.objects.filter(task_id=task.pk)
    if node_id:
        rows = rows.filter(node_id=node_id)
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return [{
        "id": op.pk, "project_id": task.business.bk_biz_id, "instance_id": task.pk, "operator": op.operator,
        "operate_type": op.operate_type, "operate_type_name": str(op.get_operate_type_display()),
        "operate_source": op.operate_source, "operate_source_name": str(op.get_operate_source_display()),
        "operate_date": op.operate_date.astimezone(tz).isoformat(), "node_id": op.node_id,
        "extra_info": op.extra_info or {},
    } for op in rows.order_by("id")]


# --- get_task_node_log / get_task_plugin_log -----------------------------------------------------------

def _node_of(task: TaskInstance, node_id: str, prefix: str) -> None:
    if not node_id:
        raise InvalidInput(f"[API] {prefix} node_id is required")
    found, _path = _engine().find_node(task.pipeline_tree, node_id)
    if found is None:
        raise NotFound(f"[API] {prefix} task[id={task.pk}] does not have node[{node_id}]")


def _log_lines(attempt: dict[str, Any]) -> list[list[str]]:
    lines = list(attempt["lines"])
    if attempt["truncated"]:
        note = _engine().NODE_LOG_TRUNCATION_NOTE.format(limit=_engine().node_log_limit())
        lines.append([lines[-1][0] if lines else "", "WARNING", note])
    return lines


def node_log(task: TaskInstance, node_id: str, version: str = "") -> dict[str, Any]:
    """The plain log of one attempt of a node (the latest one unless `version` names another):
    `{text, version, truncated, attempts: [versions, oldest first]}`. One query."""
    _node_of(task, node_id, "get_task_node_log")
    attempts = _engine().get_node_logs(task.run_id, node_id) if task.run_id else []
    versions = [a["version"] for a in attempts]
    chosen = next((a for a in attempts if a["version"] == version), None) if version else (
        attempts[-1] if attempts else None)
    if version and chosen is None:
        raise NotFound(f"[API] get_task_node_log node[{node_id}] has no log of version[{version}]")
    if chosen is None:
        return {"text": "", "version": "", "truncated": False, "attempts": versions}
    text = "\n".join(f"[{ts}] {level} {message}" for ts, level, message in _log_lines(chosen))
    return {"text": text, "version": chosen["version"], "truncated": chosen["truncated"], "attempts": versions}


def plugin_log(task: TaskInstance, node_id: str, trace_id: str, plugin_code: str) -> dict[str, Any]:
    """A plugin run's log lines, `[{ts}]{level}-{plugin}: {message}`, in the original's checks' order.

    The trace is the node attempt: `trace_id` is the node's `outputs.trace_id` when its component
    sets one, else its execution version (get_task_node_detail's `version`); `plugin_code` must be
    the node's component (or its `plugin_code` input, when set).
    """
    prefix = "get_task_plugin_log"
    _node_of(task, node_id, prefix)
    if not trace_id:
        raise InvalidInput(f"[API] {prefix} trace_id is required")
    if not plugin_code:
        raise InvalidInput(f"[API] {prefix} plugin_code is required")
    detail = None
    if task.is_started and task.run_id:
        from pipeline_engine.errors import NodeNotFound

        try:
            detail = _engine().get_node_detail(task.run_id, node_id)
        except NodeNotFound:
            detail = None
    if detail is None or not detail.get("version"):
        raise NotFound(f"[API] {prefix} execution data not found for node_id: {node_id}")
    outputs = detail.get("outputs") if isinstance(detail.get("outputs"), dict) else {}
    logged = {a["version"]: a for a in _engine().get_node_logs(task.run_id, node_id)}
    traces = {detail["version"], *logged, *([str(outputs["trace_id"])] if outputs.get("trace_id") else [])}
    if trace_id not in traces:
        raise NotFound(f"[API] {prefix} trace_id does not belong to node[{node_id}]")
    expected_code = (detail.get("inputs") or {}).get("plugin_code") or detail.get("component_code") or ""
    if plugin_code != expected_code:
        raise NotFound(f"[API] {prefix} plugin_code does not belong to node[{node_id}]")
    attempt = logged.get(detail["version"] if trace_id == str(outputs.get("trace_id") or "") else trace_id)
    lines = _log_lines(attempt) if attempt else []
    logs = [f"[{ts}]{level}-{plugin_code}: {message}" for ts, level, message in lines]
    return {"logs": "\n".join(logs), "total": len(logs), "scroll_id": "",
            "truncated": bool(attempt and attempt["truncated"])}
