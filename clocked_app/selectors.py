"""Reads on clocked tasks: one plan as create_clocked_task answers it, and the business's list (two queries)."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from access_app.models import Business
from sops_common.timefmt import expected_zone, format_time

from .models import ClockedState, ClockedTask

#: create_clocked_task's times, as the original writes them: no space before the offset
CREATE_FORMAT = "%Y-%m-%d %H:%M:%S%z"
STATES = tuple(ClockedState.values)


def _compact(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    return value.astimezone(tz).strftime(CREATE_FORMAT) if value else ""


def clocked_task_data(plan: ClockedTask, *, tz: zoneinfo.ZoneInfo | None = None, listed: bool = False) -> dict[str, Any]:
    """A plan in the original's keys. create_clocked_task writes times without a space before the offset;
    get_clocked_task_list with one (the original's two formats) and adds clocked_task_id."""
    zone = tz or plan.business.tzinfo
    render = (lambda v: format_time(v, zone)) if listed else (lambda v: _compact(v, zone))
    data: dict[str, Any] = {
        "id": plan.pk,
        "project_id": plan.business.bk_biz_id,
        "task_id": plan.task_id,
        "task_name": plan.task_name,
        "template_id": plan.template_id,
        "template_name": plan.template_name,
        "template_source": "project",
        "creator": plan.creator,
        "editor": plan.editor,
        "state": plan.state,
        "task_parameters": plan.task_parameters,
        "plan_start_time": render(plan.plan_start_time),
        "create_time": render(plan.create_time),
        "edit_time": render(plan.edit_time),
    }
    if listed:
        data["clocked_task_id"] = plan.pk
    return data



def list_clocked_tasks(business: Business, *, id: int | None = None, task_name: str = "", creator: str = "",
                       editor: str = "", state: str = "", offset: int = 0, limit: int = 100,
                       expected_timezone: str = "", auth_actions: list[str] | None = None
                       ) -> tuple[list[dict[str, Any]], int]:
    """The business's plans, newest id first, filtered and paged; and how many match before paging.
    `auth_actions` (what the caller's role allows) is given with every item."""
    tz = expected_zone(expected_timezone) or business.tzinfo
    qs = ClockedTask.objects.filter(business=business)
    if id is not None:
        qs = qs.filter(pk=id)
    if task_name:
        qs = qs.filter(task_name__icontains=task_name)
    if creator:
        qs = qs.filter(creator__icontains=creator)
    if editor:
        qs = qs.filter(editor__icontains=editor)
    if state:
        qs = qs.filter(state=state)
    count = qs.count()
    page = qs.select_related("business").order_by("-id")[offset:offset + limit]
    items = [clocked_task_data(plan, tz=tz, listed=True) for plan in page]
    for item in items:
        item["auth_actions"] = list(auth_actions or [])
    return items, count
