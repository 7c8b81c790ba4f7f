"""The scheduler tick: fire every due periodic task exactly once.

How exactly-once holds with any number of scheduler processes:

1. Each enabled periodic task stores its next fire instant, ``next_run_at``.
2. A tick claims due rows (``enabled and next_run_at <= now``) inside one
   transaction with ``SELECT ... FOR UPDATE SKIP LOCKED``: two schedulers never
   hold the same row, and neither waits for the other. On SQLite (no row
   locks) the project opens transactions with ``BEGIN IMMEDIATE``, so ticks
   serialise on the database's write lock instead.
3. For each claimed row the firing (history row, task creation, task start)
   runs in a savepoint, and the row's ``next_run_at`` moves to the first fire
   time strictly after *now*, ``total_run_count`` and ``last_run_at`` change,
   all in the claiming transaction. Once it commits, no scheduler sees the row
   as due for that fire time again; if it rolls back, nothing of the firing
   remains (the engine's messages are only sent on commit) and the next tick
   fires it.
4. Belt and braces: the history table is unique on (periodic task, scheduled
   time), and a firing's history row is inserted last in its savepoint, with
   its outcome. A firing that would duplicate one already recorded fails
   there, and the savepoint's rollback discards the task it created.

Catch-up: after downtime the row is simply still due, and step 3 moves it past
*now*, so all the missed fire times collapse into one firing. Its history
entry keeps the scheduled time (the earliest missed one), the actual time, a
``late`` flag and how many further fire times were folded into it.

A firing that fails (e.g. the template's tree no longer validates) is recorded
in the history with its reason; the savepoint keeps the claim's bookkeeping,
so it neither blocks nor repeats, and the next fire time is scheduled as usual.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from sops_common import prepared
from sops_common.errors import failure_reason

from . import clock
from .cron import fire_times, next_fire
from .models import OverlapPolicy, PeriodicTask, PeriodicTaskHistory

logger = logging.getLogger("sops.periodic")

# A firing this much after its scheduled time is flagged late (the scheduler was away or behind).
LATE_AFTER = dt.timedelta(seconds=int(getattr(settings, "SOPS_PERIODIC_LATE_SECONDS", 60)))
DEFAULT_BATCH_SIZE = 20


@dataclass(frozen=True)
class Firing:
    """What one claimed row came to, for logs and tests."""

    periodic_task_id: int
    scheduled_at: dt.datetime | None
    fired_at: dt.datetime
    task_id: int | None
    success: bool
    skipped: bool
    late: bool
    missed_windows: int
    reason: str
    next_run_at: dt.datetime | None



def previous_run_still_going(task: PeriodicTask) -> int | None:
    """The id of the task the last firing created if it started and has not finished."""
    if not task.last_task_id:
        return None
    from tasks_app.models import TaskInstance

    row = (TaskInstance.objects.filter(pk=task.last_task_id)
           .values("is_started", "is_finished", "is_revoked").first())
    if row and row["is_started"] and not row["is_finished"] and not row["is_revoked"]:
        return task.last_task_id
    return None


def _create_and_start(task: PeriodicTask, fired_at: dt.datetime) -> int:
    from tasks_app.models import CreateMethod, FlowType, OperateSource, fired_task_name
    from tasks_app.services import create_and_start_in_savepoint

    instance = create_and_start_in_savepoint(
        business=task.business, template=task.template,
        name=fired_task_name(task.name, fired_at, task.business.tzinfo),
        creator=task.creator, app_code="", flow_type=FlowType.COMMON,
        create_method=CreateMethod.PERIODIC, description="periodic task instance",
        pipeline_tree=task.pipeline_tree, periodic_task_id=task.pk,
        executor=task.creator, source=OperateSource.PERIODIC,
    )
    return instance.pk



def fire(task: PeriodicTask, now: dt.datetime) -> Firing:
    """Fire one claimed (locked) row and advance it. Runs inside the claiming transaction."""
    scheduled = task.next_run_at
    assert scheduled is not None, "a claimed row is due, so it has a fire time"
    try:
        tz = task.business.tzinfo
        schedule = task.schedule
        following = next_fire(schedule, tz, now)
        late = now - scheduled > LATE_AFTER
        # Fire times that passed after the scheduled one are folded into this single firing.
        missed = len(fire_times(schedule, tz, scheduled, now)) if late else 0
    except Exception as exc:  # a broken row must not stop the tick for everyone else
        logger.exception("periodic task %s: cannot compute its schedule", task.pk)
        task.next_run_at = None
        task.save(update_fields=["next_run_at"])
        return Firing(task.pk, scheduled, now, None, False, False, False, 0, failure_reason(exc), None)

    entry = PeriodicTaskHistory(periodic_task=task, scheduled_at=scheduled, fired_at=now, late=late,
                                missed_windows=missed)
    task_id: int | None = None
    success = skipped = False
    reason = ""
    duplicate = False
    try:
        with transaction.atomic():
            running = previous_run_still_going(task) if task.overlap_policy == OverlapPolicy.SKIP else None
            if running is not None:
                reason = f"skipped: task {running} created by the previous firing is still running"
                entry.skipped, entry.reason = True, reason
            else:
                entry.task_id = _create_and_start(task, now)
                entry.success = True
            # The history row claims (task, scheduled time) and says what the firing came to, in
            # one INSERT: a duplicate fails here, and the savepoint takes its new task with it
            # (the engine's messages for it are dropped with the savepoint, never sent).
            prepared.insert_row(entry)
        task_id, success, skipped = entry.task_id, entry.success, entry.skipped
    except IntegrityError as exc:
        task_id, success, skipped, reason = None, False, False, ""
        if PeriodicTaskHistory.objects.filter(periodic_task=task, scheduled_at=scheduled).exists():
            duplicate = True
            reason = "duplicate firing prevented: this fire time was already handled"
            logger.warning("periodic task %s: fire time %s was already handled; not firing again",
                           task.pk, scheduled)
        else:
            reason = failure_reason(exc)
    except Exception as exc:  # any failure of create/start is the firing's outcome, not the tick's
        task_id, success, skipped = None, False, False
        reason = failure_reason(exc)
        logger.warning("periodic task %s: firing for %s failed: %s", task.pk, scheduled, reason)

    if not success and not skipped and not duplicate:
        PeriodicTaskHistory.objects.create(periodic_task=task, scheduled_at=scheduled, fired_at=now,
                                           late=late, missed_windows=missed, success=False, reason=reason)
    fields = ["next_run_at"]
    task.next_run_at = following
    if success:
        task.total_run_count += 1
        task.last_run_at = now
        task.last_task_id = task_id
        fields += ["total_run_count", "last_run_at", "last_task_id"]
    task.save(update_fields=fields)
    logger.info("periodic task %s %s: scheduled %s, fired %s%s, task %s, next %s%s",
                task.pk, "fired" if success else ("skipped" if skipped else "failed"),
                scheduled.isoformat() if scheduled else None, now.isoformat(),
                f" (late, {missed} more fire times folded in)" if late else "", task_id,
                following.isoformat() if following else None, f": {reason}" if reason else "")
    return Firing(task.pk, scheduled, now, task_id, success, skipped, late, missed, reason, following)


def _due(now: dt.datetime, batch_size: int) -> list[PeriodicTask]:
    qs = (PeriodicTask.objects.filter(enabled=True, next_run_at__lte=now)
          .select_related("business", "template").order_by("next_run_at", "id"))
    if connection.features.has_select_for_update_skip_locked:
        # Lock only the periodic task rows; another scheduler skips them instead of waiting.
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:batch_size])


def _fire_batch(now: dt.datetime, batch_size: int) -> tuple[list[Firing], bool]:
    """Claim up to `batch_size` due rows and fire them, in one transaction; and whether the claim
    came back full (more may be due)."""
    with transaction.atomic():
        claimed = _due(now, batch_size)
        return [fire(task, now) for task in claimed], len(claimed) == batch_size


def _drain(now: dt.datetime, batch_size: int) -> list[Firing]:
    """Claim and fire batches of due rows until a claim comes back short."""
    firings: list[Firing] = []
    while True:
        batch, full = _fire_batch(now, batch_size)
        firings += batch
        if not full:
            return firings


def _drain_in_thread(now: dt.datetime, batch_size: int, out: list[Firing]) -> None:
    try:
        out.extend(_drain(now, batch_size))
    except Exception:  # what it had claimed and not committed is due again: another thread or tick fires it
        logger.exception("a periodic firing thread failed; the rows it had not fired stay due")
    finally:
        connection.close()  # this thread's own connection


def tick(*, now: dt.datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
         threads: int | None = None) -> list[Firing]:
    """Fire everything due at `now` (the scheduler's clock by default). Returns what happened.

    Claims at most `batch_size` rows per transaction so locks are held briefly and
    several schedulers share a burst of due tasks. When the first batch comes back
    full (a burst: many tasks due in the same minute), `threads` - 1 more threads
    (SOPS_SCHEDULER_FIRING_THREADS, default 2) claim and fire batches beside this one,
    each on its own connection, exactly as more schedulers would: a firing waits
    for the database about a third of its time, which another thread uses.
    Only where rows can be claimed with SKIP LOCKED (PostgreSQL): on SQLite every
    claim takes the database's write lock, so threads would only queue.
    """
    now = now or clock.now()
    # Most ticks find nothing due: a plain read (no transaction, no lock) says so cheaply, which
    # matters on SQLite, where every claiming transaction takes the database's write lock.
    if not PeriodicTask.objects.filter(enabled=True, next_run_at__lte=now).exists():
        return []
    firings, full = _fire_batch(now, batch_size)
    if not full:
        return firings
    threads = firing_threads() if threads is None else threads
    helpers: list[tuple[threading.Thread, list[Firing]]] = []
    if connection.features.has_select_for_update_skip_locked and not connection.in_atomic_block:
        for i in range(max(0, threads - 1)):
            out: list[Firing] = []
            thread = threading.Thread(target=_drain_in_thread, args=(now, batch_size, out),
                                      name=f"periodic-firing-{i + 1}", daemon=True)
            thread.start()
            helpers.append((thread, out))
    firings += _drain(now, batch_size)
    for thread, out in helpers:
        thread.join()
        firings += out
    return firings


def firing_threads() -> int:
    """Threads that fire a burst of due periodic tasks in one scheduler (SOPS_SCHEDULER_FIRING_THREADS)."""
    return max(1, int(getattr(settings, "SOPS_SCHEDULER_FIRING_THREADS", 2)))
