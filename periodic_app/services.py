"""Writes on periodic tasks: each function is one transaction and locks the row it changes.

The scheduler claims due rows with the same row lock, so an edit never
interleaves with a firing of the same periodic task: whichever comes second
sees the other's result.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from access_app.models import Business
from sops_common.errors import InvalidInput
from templates_app.models import Template

from . import clock
from .cron import CronError, CronSchedule, next_fire, parse_cron, parse_cron_text
from .models import PERIODIC_TASK_NAME_MAX_LENGTH, OverlapPolicy, PeriodicTask
from .selectors import get_periodic_task


def parse_cron_param(value: Any) -> CronSchedule:
    """The API's `cron`: a dict of fields (the spec), or the display string `m h dow dom moy`."""
    if value is None:
        raise InvalidInput("cron is required: a dict of minute, hour, day_of_week, day_of_month, month_of_year")
    if isinstance(value, str) and value.lstrip().startswith("{"):
        # A query-string or form caller sends the dict as JSON text.
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput("cron is not valid JSON") from exc
    try:
        if isinstance(value, Mapping):
            return parse_cron(value)
        if isinstance(value, str):
            return parse_cron_text(value)
    except CronError as exc:
        raise InvalidInput(str(exc)) from exc
    raise InvalidInput("cron must be a dict of minute, hour, day_of_week, day_of_month, month_of_year")


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= PERIODIC_TASK_NAME_MAX_LENGTH:
        raise InvalidInput(f"task params is invalid: name must be a string of 1 to "
                         f"{PERIODIC_TASK_NAME_MAX_LENGTH} characters")
    return name


def compute_next_run(task: PeriodicTask, now: dt.datetime) -> dt.datetime | None:
    return next_fire(task.schedule, task.business.tzinfo, now)


def build_tree(template: Template, *, business: Business, constants: Mapping[str, Any] | None,
               exclude_task_nodes_id: list[str] | None) -> dict:
    """The tree create_task builds (exclusions, pruning, merge, subprocesses unfolded, new ids,
    validated), frozen once so that every firing runs the same thing."""
    from tasks_app.services import build_task_tree
    from templates_app.subprocesses import template_label

    return build_task_tree(business=business, source_tree=template.pipeline_tree,
                           exclude_task_nodes_id=exclude_task_nodes_id, constants=dict(constants or {}),
                           label=template_label(template))


@transaction.atomic
def create_periodic_task(*, business: Business, template: Template, name: str, cron: CronSchedule,
                         creator: str, constants: Mapping[str, Any] | None = None,
                         exclude_task_nodes_id: list[str] | None = None,
                         overlap_policy: str = OverlapPolicy.ALLOW, enabled: bool = False,
                         now: dt.datetime | None = None) -> PeriodicTask:
    """A new periodic task. The API creates them disabled, as the original does."""
    validate_name(name)
    if overlap_policy not in OverlapPolicy.values:
        raise InvalidInput(f"overlap_policy must be one of {', '.join(OverlapPolicy.values)}")
    task = PeriodicTask(
        business=business, template=template, template_source=template.source, name=name,
        creator=creator, editor=creator,
        pipeline_tree=build_tree(template, business=business, constants=constants,
                                 exclude_task_nodes_id=exclude_task_nodes_id),
        enabled=enabled, overlap_policy=overlap_policy,
    )
    task.set_schedule(cron)
    if enabled:
        task.next_run_at = compute_next_run(task, now or clock.now())
    task.save()
    return task


def _locked(business: Business, task_id: Any) -> PeriodicTask:
    return get_periodic_task(business, task_id, lock=True)


@transaction.atomic
def set_enabled(*, business: Business, task_id: Any, enabled: bool, editor: str,
                now: dt.datetime | None = None) -> PeriodicTask:
    task = _locked(business, task_id)
    if enabled and not (task.enabled and task.next_run_at):
        # Enabling starts from now: the time spent disabled does not count as missed.
        task.next_run_at = compute_next_run(task, now or clock.now())
    elif not enabled:
        task.next_run_at = None
    # Re-enabling an enabled task keeps its pending fire time, so a due catch-up is not lost.
    task.enabled = enabled
    task.editor = editor
    task.save(update_fields=["enabled", "next_run_at", "editor", "edit_time"])
    return task


@transaction.atomic
def modify_cron(*, business: Business, task_id: Any, cron: CronSchedule, editor: str,
                now: dt.datetime | None = None) -> PeriodicTask:
    """Change the schedule, enabled or not (the newest original's behaviour, issue #5699)."""
    task = _locked(business, task_id)
    task.set_schedule(cron)
    task.next_run_at = compute_next_run(task, now or clock.now()) if task.enabled else None
    task.editor = editor
    task.save(update_fields=["minute", "hour", "day_of_week", "day_of_month", "month_of_year",
                             "next_run_at", "editor", "edit_time"])
    return task


@transaction.atomic
def modify_constants(*, business: Business, task_id: Any, constants: Mapping[str, Any], editor: str,
                     now: dt.datetime | None = None) -> PeriodicTask:
    """Set values of constants the snapshot defines; other keys are ignored, as the original."""
    task = _locked(business, task_id)
    tree = dict(task.pipeline_tree or {})
    defined = dict(tree.get("constants") or {})
    for key, value in constants.items():
        if key in defined:
            defined[key] = {**defined[key], "value": value}
    tree["constants"] = defined
    task.pipeline_tree = tree
    if task.enabled and task.next_run_at is None:
        # The cron did not change, so a pending fire time stays (a due catch-up is kept);
        # only an enabled task that somehow lost its fire time gets one again.
        task.next_run_at = compute_next_run(task, now or clock.now())
    task.editor = editor
    task.save(update_fields=["pipeline_tree", "next_run_at", "editor", "edit_time"])
    return task
