"""Inputs and outputs of the periodic-task endpoints (periodic.py)."""
from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from periodic_app.cron import FIELDS
from periodic_app.models import PERIODIC_TASK_NAME_MAX_LENGTH, OverlapPolicy
from periodic_app.services import parse_cron_param, validate_name
from sops_common import limits

from .base import Input
from .common import Constant, PipelineTree
from .fields import Boolean, Choice, Integer, List, Object, Parsed, String, Time
from .tasks import CONSTANTS_HELP, exclude_task_nodes_id
from .templates import template_source

CRON_REQUIRED = ("cron is required: a dict of minute, hour, day_of_week, day_of_month, month_of_year "
                 "(each defaults to *)")
CRON_FIELD_HELP = {
    "minute": "0-59", "hour": "0-23", "day_of_week": "0-6 (0 = Sunday; 7 and sun..sat too)",
    "day_of_month": "1-31", "month_of_year": "1-12 (jan..dec too)",
}
CRON_OBJECT = {
    "type": "object",
    "description": "each field as celery's crontab reads it: *, */n, a, a-b, a-b/n, comma lists of these",
    "properties": {name: {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True, "default": "*",
                          "description": CRON_FIELD_HELP[name] + "; absent or null: *", "example": example}
                   for name, example in zip(FIELDS, ["*/1", "15", "*", "*", "*"], strict=True)},
    "additionalProperties": False,
}
CRON_SCHEMA = {
    "oneOf": [CRON_OBJECT, {"type": "string", "example": "0 9 mon-fri * *",
                            "description": 'the display form "minute hour day_of_week day_of_month '
                                           'month_of_year"'}],
}


def _cron(value: Any) -> Any:
    # A query string may carry the display form JSON-quoted, like every other JSON value there.
    if isinstance(value, str) and value.startswith('"'):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    return parse_cron_param(value)


def cron(**kwargs: Any) -> Parsed:
    return Parsed(_cron, schema=CRON_SCHEMA,
                  error_messages={"required": CRON_REQUIRED, "null": CRON_REQUIRED},
                  example={"minute": "*/1", "hour": "15", "day_of_week": "*", "day_of_month": "*",
                           "month_of_year": "*"},
                  help_text="when it fires, in the business's time zone (day_of_week and day_of_month must "
                            "both match); see docs/periodic.md", **kwargs)


# --- inputs --------------------------------------------------------------------------------------------

class CreatePeriodicTaskInput(Input):
    template_source = template_source()
    name = String(allow_blank=False, max_length=PERIODIC_TASK_NAME_MAX_LENGTH, validators=[validate_name],
                  error=f"task params is invalid: name must be a string of 1 to {PERIODIC_TASK_NAME_MAX_LENGTH} "
                        "characters", example="from api 3", help_text="periodic task name")
    cron = cron()
    constants = Object(default=dict, help_text=CONSTANTS_HELP, example={"${bk_timing}": "100"})
    exclude_task_nodes_id = exclude_task_nodes_id()
    overlap_policy = Choice(OverlapPolicy.choices, default=OverlapPolicy.ALLOW, example=OverlapPolicy.ALLOW,
                            error=f"overlap_policy must be one of {', '.join(OverlapPolicy.values)}",
                            help_text="allow: fire even while the previous run goes on; skip: skip that firing")


class SetPeriodicTaskEnabledInput(Input):
    enabled = Boolean(default=False, example=True, help_text="false when absent, as the original")


class ModifyCronInput(Input):
    cron = cron()


class ModifyConstantsInput(Input):
    constants = Object(default=dict, help_text="{\"${key}\": value}: keys the periodic task does not define are "
                                               "ignored", example={"${bk_timing}": "15"})


class PeriodicTaskHistoryInput(Input):
    offset = Integer(default=0, min_value=0, max_value=limits.MAX_OFFSET, example=0, help_text="firings to pass over")
    limit = Integer(default=50, min_value=1, max_value=500, example=50, help_text="firings to answer at most")


# --- outputs -------------------------------------------------------------------------------------------

class PeriodicTaskSummary(serializers.Serializer):
    cron = String(example="*/1 15 * * * (m/h/d/dM/MY)",
                  help_text='"minute hour day_of_week day_of_month month_of_year (m/h/d/dM/MY)"')
    total_run_count = Integer(example=0, help_text="how many times it fired")
    name = String(example="from api 3", help_text="periodic task name")
    creator = String(example="admin", help_text="who created it")
    last_run_at = Time(help_text='when it last fired ("" never)')
    enabled = Boolean(example=False, help_text="it fires (the API creates them disabled)")
    id = Integer(example=11, help_text="periodic task id")
    template_id = String(example="1", help_text="the template's id, as a string (a number in "
                                                "create_periodic_task's answer, as the spec's examples show)")


class PeriodicTaskInfo(PeriodicTaskSummary):
    form = Object(child=Constant(), example={}, help_text="the constants shown in the form (show_type show)")
    pipeline_tree = PipelineTree(help_text="the tree every firing runs (built once, at creation)")


class CreatedPeriodicTask(PeriodicTaskInfo):
    template_id = Integer(example=1, help_text="the template's id (a number here; a string in list and info)")  # type: ignore[assignment]  # narrows the parent's String


class EnabledState(serializers.Serializer):
    enabled = Boolean(example=True, help_text="whether it fires now")


class CronState(serializers.Serializer):
    cron = String(example="*/1 15 * * * (m/h/d/dM/MY)", help_text="the new schedule, as list and info show it")


CONSTANTS_DATA = Object(child=Constant(), example={}, help_text="{${key}: constant} after the change")


class HistoryEntry(serializers.Serializer):
    id = Integer(example=3, help_text="the firing's id")
    scheduled_time = Time(help_text="the fire time the cron gave")
    actual_time = Time(help_text="when it fired")
    late = Boolean(example=False, help_text="fired after its window (a catch-up)")
    missed_windows = Integer(example=0, help_text="fire times passed over while the scheduler was away")
    task_id = Integer(allow_null=True, example=103, help_text="the task it created; null when none was")
    success = Boolean(example=True, help_text="the task was created and started")
    skipped = Boolean(example=False, help_text="skipped by overlap_policy skip")
    reason = String(example="", help_text="why it failed or was skipped")


class PeriodicTaskHistory(serializers.Serializer):
    count = Integer(example=5, help_text="firings recorded")
    offset = Integer(example=0, help_text="as asked")
    limit = Integer(example=50, help_text="as asked")
    next_run_at = Time(help_text='the next fire time ("" when disabled)')
    results = List(child=HistoryEntry(), example=[], help_text="newest fire time first")
