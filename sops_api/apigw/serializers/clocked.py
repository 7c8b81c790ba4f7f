"""Inputs and outputs of create_clocked_task and get_clocked_task_list (endpoints/clocked.py)."""
from __future__ import annotations

from rest_framework import serializers

from clocked_app.models import CLOCKED_TASK_NAME_MAX_LENGTH
from clocked_app.selectors import STATES
from clocked_app.services import PARAMETER_KEYS, validate_task_name
from sops_common import limits

from .base import Input
from .fields import Choice, Integer, List, Object, String


class CreateClockedTaskInput(Input):
    task_name = String(allow_blank=False, max_length=CLOCKED_TASK_NAME_MAX_LENGTH, validators=[validate_task_name],
                       error=f"task_name must be a string of 1 to {CLOCKED_TASK_NAME_MAX_LENGTH} characters",
                       example="nightly restart", help_text="the plan's name; the task is named "
                                                            "<task_name>_<YYYYmmddHHMMSS> when it starts")
    plan_start_time = String(allow_blank=False, example="2026-05-16 20:26:40 +0800",
                             error="plan_start_time is required: a time such as 2026-05-16 20:26:40 +0800",
                             help_text="when to start, later than now: YYYY-mm-dd HH:MM:SS[ ]+zzzz, or ISO 8601; "
                                       "without an offset, in the business's time zone")
    task_parameters = Object(required=False, allow_null=True, default=None, error="task_parameters must be an object",
                             example={"constants": {"${bk_timing}": "5"}, "template_schemes_id": []},
                             help_text=f"the task's {', '.join(PARAMETER_KEYS)}; at most one of "
                                       "exclude_task_nodes_id, template_schemes_id (scheme pks) and "
                                       "appoint_task_nodes_id (nodes to run; mandatory nodes always run). Business "
                                       "and template come from the path only")


class ClockedTaskListInput(Input):
    id = Integer(required=False, allow_null=True, default=None, error="id must be a number", example=1,
                 help_text="exactly this plan")
    task_name = String(default="", example="nightly", help_text="part of the plan's name (any case)")
    creator = String(default="", example="admin", help_text="part of the creator's name (any case)")
    editor = String(default="", example="", help_text="part of the editor's name (any case)")
    state = Choice(STATES, required=False, default="", example="not_started",
                   error=f"state must be one of: {', '.join(STATES)}",
                   help_text="not_started, started or start_failed")
    offset = Integer(default=0, min_value=0, max_value=limits.MAX_OFFSET, example=0, help_text="plans to pass over")
    limit = Integer(default=100, min_value=1, max_value=200, example=100, help_text="plans to answer at most")
    expected_timezone = String(default="", example="Asia/Shanghai",
                               help_text="the zone to render times in (default: the business's)")


class ClockedTask(serializers.Serializer):
    id = Integer(example=1, help_text="the plan's id")
    project_id = Integer(example=2, help_text="the business (bk_biz_id)")
    task_id = Integer(allow_null=True, example=None, help_text="the task it started; null until it fires")
    task_name = String(example="nightly restart", help_text="the plan's name")
    template_id = Integer(example=1, help_text="the template the task is made from (the path's)")
    template_name = String(example="timer then pause", help_text="the template's name when the plan was made")
    template_source = String(example="project", help_text="always project (business templates only)")
    creator = String(example="admin", help_text="who made the plan; the task is created and started as them")
    editor = String(example="", help_text="last editor (plans are not edited through the API: \"\")")
    state = Choice(STATES, example="not_started", help_text="not_started, started or start_failed")
    task_parameters = Object(example={"constants": {}, "template_schemes_id": []},
                             help_text="what the task is made with (create_clocked_task's, normalised)")
    plan_start_time = String(example="2026-05-16 20:26:40+0800",
                             help_text="YYYY-mm-dd HH:MM:SS+zzzz (create) or YYYY-mm-dd HH:MM:SS +zzzz (list), in "
                                       "the business's zone (or expected_timezone)")
    create_time = String(example="2026-05-16 20:00:00+0800", help_text="when the plan was made (format as plan_start_time)")
    edit_time = String(example="2026-05-16 20:00:00+0800", help_text="when the plan last changed (format as plan_start_time)")


class ClockedTaskItem(ClockedTask):
    clocked_task_id = Integer(example=1, help_text="the plan's id again (the original's key)")
    auth_actions = List(child=String(), example=["clocked_task_view", "flow_view"], help_text="what the caller may do: clocked_task_view, "
                                                                   "flow_view; operators also clocked_task_edit, "
                                                                   "clocked_task_delete")
