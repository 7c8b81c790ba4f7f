"""The clocked tick: start every due clocked task exactly once (run by the maintenance tick).

Exactly once with any number of scheduler processes, as periodic_app/scheduler.py does it:

1. A tick claims due rows (``state = not_started and plan_start_time <= now``) in one
   transaction with ``SELECT ... FOR UPDATE SKIP LOCKED``: two schedulers never hold the same
   row and neither waits. On SQLite (no row locks) transactions open with ``BEGIN IMMEDIATE``,
   so ticks serialise on the database's write lock.
2. For each claimed row the task is created and started in a savepoint, and the row's state
   moves to ``started`` (or ``start_failed`` with the reason) in the claiming transaction. Once
   that commits no scheduler sees the row as due again; if it rolls back nothing of the firing
   remains (the engine's messages are only sent on commit) and the next tick fires it.
3. Belt and braces: the task is created with the request_id ``clocked-<id>``, which the tasks
   table holds unique per business; a second firing would find the first one's task, started,
   and record it instead of starting another.

Catch-up: after downtime a plan is simply still due and fires at the first tick; ``fired_at``
says when, beside ``plan_start_time``.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from sops_common.errors import failure_reason

from .models import ClockedState, ClockedTask
from .services import task_kwargs

logger = logging.getLogger("sops.clocked")

DEFAULT_BATCH_SIZE = 20


@dataclass(frozen=True)
class Firing:
    """What one claimed plan came to, for logs and tests."""

    clocked_task_id: int
    task_id: int | None
    success: bool
    reason: str



def request_id(plan: ClockedTask) -> str:
    return f"clocked-{plan.pk}"


def _create_and_start(plan: ClockedTask, now: dt.datetime) -> int:
    from sops_common.errors import NotFound
    from tasks_app.models import CreateMethod, OperateSource, fired_task_name
    from tasks_app.services import create_and_start_in_savepoint

    template = plan.template
    if template.is_deleted:
        raise NotFound(f"template[id={template.pk}] has been deleted")
    # The request_id makes a repeated firing answer the task of the first, started or not.
    task = create_and_start_in_savepoint(business=plan.business, template=template,
                                         name=fired_task_name(plan.task_name, now, plan.business.tzinfo),
                                         creator=plan.creator, app_code="", create_method=CreateMethod.CLOCKED,
                                         request_id=request_id(plan), **task_kwargs(template, plan.task_parameters),
                                         executor=plan.creator, source=OperateSource.CLOCKED)
    return task.pk



def fire(plan: ClockedTask, now: dt.datetime) -> Firing:
    """Fire one claimed (locked) plan. Runs inside the claiming transaction."""
    task_id: int | None = None
    reason = ""
    try:
        with transaction.atomic():
            task_id = _create_and_start(plan, now)
    except Exception as exc:  # any failure of create/start is the firing's outcome, not the tick's
        reason = failure_reason(exc)
        logger.warning("clocked task %s: start failed: %s", plan.pk, reason)
    plan.state = ClockedState.STARTED if task_id is not None else ClockedState.START_FAILED
    plan.task_id, plan.fired_at, plan.reason = task_id, now, reason
    plan.save(update_fields=["state", "task_id", "fired_at", "reason", "edit_time"])
    logger.info("clocked task %s %s: planned %s, fired %s, task %s", plan.pk, plan.state,
                plan.plan_start_time.isoformat(), now.isoformat(), task_id)
    return Firing(plan.pk, task_id, task_id is not None, reason)


def _due(now: dt.datetime, batch_size: int) -> list[ClockedTask]:
    qs = (ClockedTask.objects.filter(state=ClockedState.NOT_STARTED, plan_start_time__lte=now)
          .select_related("business", "template").order_by("plan_start_time", "id"))
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:batch_size])


def tick(*, now: dt.datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> list[Firing]:
    """Fire every plan due at `now`. Claims at most `batch_size` rows per transaction."""
    now = now or timezone.now()
    firings: list[Firing] = []
    # Most ticks find nothing due: a plain read says so without a transaction or a lock.
    if not ClockedTask.objects.filter(state=ClockedState.NOT_STARTED, plan_start_time__lte=now).exists():
        return firings
    while True:
        with transaction.atomic():
            claimed = _due(now, batch_size)
            for plan in claimed:
                firings.append(fire(plan, now))
        if len(claimed) < batch_size:
            return firings
