"""Reads on periodic tasks, each a fixed number of queries."""
from __future__ import annotations

from typing import Any

from access_app.models import Business
from sops_common.errors import NotFound
from sops_common.limits import NotAnInteger, parse_id, shown
from sops_common.timefmt import format_time

from .models import PeriodicTask, PeriodicTaskHistory


def get_periodic_task(business: Business, task_id: Any, *, lock: bool = False) -> PeriodicTask:
    """The business's periodic task; another business's task is as absent as a missing one."""
    try:
        pk = parse_id(task_id, "task_id")
    except NotAnInteger as exc:
        # As the original: a task id that is no number names no task (a number out of range is a bad request).
        raise NotFound(f"task({shown(task_id)}) does not exist") from exc
    qs = PeriodicTask.objects.filter(business=business, pk=pk)
    if lock:
        # of=("self",): lock only the periodic task row, not the joined business.
        qs = qs.select_for_update(of=("self",))
    task = qs.select_related("business").first()
    if task is None:
        raise NotFound(f"task({task_id}) does not exist")
    return task


def periodic_task_summary(task: PeriodicTask, business: Business) -> dict[str, Any]:
    """A list item, in the key order of the spec's example."""
    return {
        "cron": task.cron,
        "total_run_count": task.total_run_count,
        "name": task.name,
        "creator": task.creator,
        "last_run_at": format_time(task.last_run_at, business.tzinfo),
        "enabled": task.enabled,
        "id": task.pk,
        "template_id": str(task.template_id),
    }


def form_of(constants: dict[str, Any]) -> dict[str, Any]:
    """The variables a user fills in: constants shown in the form."""
    return {key: value for key, value in constants.items() if value.get("show_type") == "show"}


def periodic_task_info(task: PeriodicTask, business: Business) -> dict[str, Any]:
    data = periodic_task_summary(task, business)
    data["form"] = form_of(task.constants)
    data["pipeline_tree"] = _without_template_node_ids(task.pipeline_tree)
    return data


def _without_template_node_ids(tree: dict[str, Any]) -> dict[str, Any]:
    """The stored tree in the original's shape: each activity's `template_node_id` (kept so the tasks
    it fires share their template nodes' execution-time history) is bookkeeping, not shown here."""
    if not isinstance(tree, dict) or not isinstance(tree.get("activities"), dict):
        return tree
    activities = {}
    for node_id, act in tree["activities"].items():
        if isinstance(act, dict):
            act = {k: v for k, v in act.items() if k != "template_node_id"}
            if isinstance(act.get("pipeline"), dict):
                act["pipeline"] = _without_template_node_ids(act["pipeline"])
        activities[node_id] = act
    return {**tree, "activities": activities}


def list_periodic_tasks(business: Business) -> list[dict[str, Any]]:
    qs = PeriodicTask.objects.filter(business=business).defer("pipeline_tree").order_by("-id")
    return [periodic_task_summary(task, business) for task in qs]


def history_entry(entry: PeriodicTaskHistory, business: Business) -> dict[str, Any]:
    tz = business.tzinfo
    return {
        "id": entry.pk,
        "scheduled_time": format_time(entry.scheduled_at, tz),
        "actual_time": format_time(entry.fired_at, tz),
        "late": entry.late,
        "missed_windows": entry.missed_windows,
        "task_id": entry.task_id,
        "success": entry.success,
        "skipped": entry.skipped,
        "reason": entry.reason,
    }


def list_history(task: PeriodicTask, business: Business, *, offset: int, limit: int) -> dict[str, Any]:
    """Newest fire time first; `count` is the total, for paging."""
    qs = PeriodicTaskHistory.objects.filter(periodic_task=task).order_by("-scheduled_at", "-id")
    return {
        "count": qs.count(),
        "offset": offset,
        "limit": limit,
        "next_run_at": format_time(task.next_run_at, business.tzinfo),
        "results": [history_entry(entry, business) for entry in qs[offset:offset + limit]],
    }
