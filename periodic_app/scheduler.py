"""The scheduler tick: fire every due periodic task exactly once.

How exactly-once holds with any number of scheduler processes:

1. Each enabled periodic task stores its next fire instant, ``next_run_at``.
2. A tick claims due rows (``enabled and next_run_at <= now``) inside one
   transaction with ``SELECT ... FOR UPDATE SKIP LOCKED``: two schedulers never
   hold the same row, and neither waits for the other. On SQLite (no row
   locks) the project opens transactions with ``BEGIN IMMEDIATE``, so ticks
   serialise on the database's write lock instead.
3. For each claimed row the firing (history row, task creation, task start)
   is written, and the row's ``next_run_at`` moves to the first fire time
   strictly after *now*, ``total_run_count`` and ``last_run_at`` change, all in
   the claiming transaction. Once it commits, no scheduler sees the row as due
   for that fire time again; if it rolls back, nothing of the firing remains
   (the engine's messages are only sent on commit) and the next tick fires it.
   On PostgreSQL the writes of the whole batch are sent together, after its
   last row, in one round trip (a firing row by row costs about seven); if
   they fail, the transaction rolls back and the batch is claimed and fired
   again row by row, each firing in a savepoint of its own, so that a failing
   one is recorded without taking the others with it. Elsewhere, and for a
   row whose start is not one statement, firings always go row by row.
4. Belt and braces: the history table is unique on (periodic task, scheduled
   time), and a firing's history row is inserted after its task, with its
   outcome. A firing that would duplicate one already recorded fails there,
   and the rollback (of the batch, then of the row's savepoint) discards the
   task it created.

Catch-up: after downtime the row is simply still due, and step 3 moves it past
*now*, so all the missed fire times collapse into one firing. Its history
entry keeps the scheduled time (the earliest missed one), the actual time, a
``late`` flag and how many further fire times were folded into it.

A firing that fails (e.g. the template's tree no longer validates) is recorded
in the history with its reason, with the claim's bookkeeping (nothing of it was
written, or its savepoint was rolled back), so it neither blocks nor repeats,
and the next fire time is scheduled as usual.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction

from sops_common import prepared
from sops_common.errors import failure_reason

from . import clock
from .cron import fire_times, next_fire
from .models import OverlapPolicy, PeriodicTask, PeriodicTaskHistory

if TYPE_CHECKING:
    from sops_common.prepared import Writes

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


def _create_fields(task: PeriodicTask, fired_at: dt.datetime) -> dict[str, Any]:
    """What a firing of `task` creates and starts, as the task services take it."""
    from tasks_app.models import CreateMethod, FlowType, OperateSource, fired_task_name

    return dict(
        business=task.business, template=task.template,
        name=fired_task_name(task.name, fired_at, task.business.tzinfo),
        creator=task.creator, app_code="", flow_type=FlowType.COMMON,
        create_method=CreateMethod.PERIODIC, description="periodic task instance",
        pipeline_tree=task.pipeline_tree, periodic_task_id=task.pk,
        executor=task.creator, source=OperateSource.PERIODIC,
    )


def _create_and_start(task: PeriodicTask, fired_at: dt.datetime) -> int:
    from tasks_app.services import create_and_start_in_savepoint

    return create_and_start_in_savepoint(**_create_fields(task, fired_at)).pk


@dataclass(frozen=True)
class _Due:
    """A claimed row's fire time, the next one after now, and whether it comes late."""

    scheduled: dt.datetime
    following: dt.datetime | None
    late: bool
    missed: int


def _due_times(task: PeriodicTask, now: dt.datetime) -> _Due:
    scheduled = task.next_run_at
    assert scheduled is not None, "a claimed row is due, so it has a fire time"
    tz, schedule = task.business.tzinfo, task.schedule
    late = now - scheduled > LATE_AFTER
    # Fire times that passed after the scheduled one are folded into this single firing.
    missed = len(fire_times(schedule, tz, scheduled, now)) if late else 0
    return _Due(scheduled, next_fire(schedule, tz, now), late, missed)


def _skip_reason(task: PeriodicTask) -> str:
    """Why this firing is skipped (the overlap policy), or "" to fire."""
    running = previous_run_still_going(task) if task.overlap_policy == OverlapPolicy.SKIP else None
    return "" if running is None else f"skipped: task {running} created by the previous firing is still running"


def _advance(task: PeriodicTask, due: _Due, now: dt.datetime, task_id: int | None) -> list[str]:
    """Move the claimed row to its next fire time, counting a firing that created `task_id`; the
    fields changed, for the caller's write."""
    fields = ["next_run_at"]
    task.next_run_at = due.following
    if task_id is not None:
        task.total_run_count += 1
        task.last_run_at = now
        task.last_task_id = task_id
        fields += ["total_run_count", "last_run_at", "last_task_id"]
    return fields


def _outcome(task: PeriodicTask, due: _Due, now: dt.datetime, task_id: int | None, success: bool,
             skipped: bool, reason: str) -> Firing:
    return Firing(task.pk, due.scheduled, now, task_id, success, skipped, due.late, due.missed, reason,
                  due.following)


def _report(firing: Firing) -> Firing:
    """Log a firing once its writes are committed to happen (a batch's: once sent), so a batch
    fired again row by row is not logged twice."""
    outcome = "fired" if firing.success else ("skipped" if firing.skipped else "failed")
    logger.info("periodic task %s %s: scheduled %s, fired %s%s, task %s, next %s%s",
                firing.periodic_task_id, outcome,
                firing.scheduled_at.isoformat() if firing.scheduled_at else None, firing.fired_at.isoformat(),
                f" (late, {firing.missed_windows} more fire times folded in)" if firing.late else "",
                firing.task_id, firing.next_run_at.isoformat() if firing.next_run_at else None,
                f": {firing.reason}" if firing.reason else "")
    return firing


def _unschedulable(task: PeriodicTask, now: dt.datetime, exc: Exception) -> Firing:
    """A row whose schedule cannot be computed: it stops firing (next_run_at NULL), and says why."""
    logger.error("periodic task %s: cannot compute its schedule", task.pk, exc_info=exc)
    scheduled, task.next_run_at = task.next_run_at, None
    task.save(update_fields=["next_run_at"])
    return Firing(task.pk, scheduled, now, None, False, False, False, 0, failure_reason(exc), None)


def fire(task: PeriodicTask, now: dt.datetime) -> Firing:
    """Fire one claimed (locked) row in a savepoint of its own and advance it. Runs inside the
    claiming transaction."""
    try:
        due = _due_times(task, now)
    except Exception as exc:  # a broken row must not stop the tick for everyone else
        return _unschedulable(task, now, exc)
    scheduled = due.scheduled

    entry = PeriodicTaskHistory(periodic_task=task, scheduled_at=scheduled, fired_at=now, late=due.late,
                                missed_windows=due.missed)
    task_id: int | None = None
    success = skipped = False
    reason = ""
    duplicate = False
    try:
        with transaction.atomic():
            reason = _skip_reason(task)
            if reason:
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
                                           late=due.late, missed_windows=due.missed, success=False, reason=reason)
    task.save(update_fields=_advance(task, due, now, task_id if success else None))
    return _report(_outcome(task, due, now, task_id, success, skipped, reason))


def _fire_into(together: Writes, task: PeriodicTask, now: dt.datetime, key: int) -> Firing | None:
    """fire's writes for one claimed row, added to `together` (the batch's, sent after its last
    row); None, with nothing added, for a row fire must take (its schedule cannot be computed, or
    its task cannot be written this way). The history row is still inserted last, so a
    duplicate fire time fails the batch's writes, which the caller then fires row by row.
    Not logged here: the caller reports it once the batch is sent."""
    from tasks_app.services import create_and_start_into

    try:
        due = _due_times(task, now)
    except Exception:  # noqa: BLE001 - fire records it
        return None
    entry = PeriodicTaskHistory(periodic_task=task, scheduled_at=due.scheduled, fired_at=now, late=due.late,
                                missed_windows=due.missed)
    reason = _skip_reason(task)
    if reason:
        entry.skipped, entry.reason = True, reason
    else:
        try:
            created = create_and_start_into(together, key=key, **_create_fields(task, now))
        except Exception as exc:  # the firing's outcome, not the batch's: nothing of it was added
            reason = entry.reason = failure_reason(exc)
        else:
            if created is None:
                return None
            entry.task_id, entry.success = created.pk, True
    fields = _advance(task, due, now, entry.task_id)
    together.update_rows(PeriodicTask, {"pk": task.pk}, {f: getattr(task, f) for f in fields})
    together.insert_rows([entry], read_keys=False)
    return _outcome(task, due, now, entry.task_id, entry.success, entry.skipped, reason)


class _BatchFailed(Exception):
    """The batch's writes failed together (a fire time recorded already, a value the database
    refused): the claiming transaction is rolled back and the batch fired row by row."""


def _fire_together(claimed: list[PeriodicTask], now: dt.datetime) -> list[Firing]:
    """Fire claimed rows with their writes sent together, in one round trip after the claim and one
    for the tasks' keys, where fire costs about seven per row; the rows fire cannot batch (see
    _fire_into) are fired by it, each in its savepoint, in the same transaction. PostgreSQL."""
    from tasks_app.models import TaskInstance

    together = prepared.writes()
    firings: list[Firing] = []
    batched: list[Firing] = []
    # A key for every row, in one round trip: a row that creates no task (skipped, failed, fired
    # row by row) leaves its key unused, a gap in the tasks' ids as a rolled-back INSERT leaves.
    for task, key in zip(claimed, prepared.next_keys(TaskInstance, len(claimed)), strict=True):
        firing = _fire_into(together, task, now, key)
        if firing is None:
            firings.append(fire(task, now))
        else:
            firings.append(firing)
            batched.append(firing)
    try:
        together.send()
    except (OperationalError, InterfaceError):
        raise  # the connection, not the rows: the claim is rolled back and the rows stay due
    except DatabaseError as exc:
        raise _BatchFailed(str(exc)) from exc
    for firing in batched:
        if not firing.success and not firing.skipped:
            logger.warning("periodic task %s: firing for %s failed: %s", firing.periodic_task_id,
                           firing.scheduled_at, firing.reason)
        _report(firing)
    return firings


def _due(now: dt.datetime, batch_size: int) -> list[PeriodicTask]:
    # A firing runs the row's own snapshot: the template gives only its name, source, version and
    # category, and its tree (the largest value read) is left in the database.
    qs = (PeriodicTask.objects.filter(enabled=True, next_run_at__lte=now)
          .select_related("business", "template").defer("template__pipeline_tree")
          .order_by("next_run_at", "id"))
    if connection.features.has_select_for_update_skip_locked:
        # Lock only the periodic task rows; another scheduler skips them instead of waiting.
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:batch_size])


def _fire_batch(now: dt.datetime, batch_size: int) -> tuple[list[Firing], bool]:
    """Claim up to `batch_size` due rows and fire them, in one transaction; and whether the claim
    came back full (more may be due). On PostgreSQL the batch's writes go together
    (_fire_together); if they fail, the transaction is rolled back and the batch claimed again
    and fired row by row, each firing in its savepoint, which isolates the one that failed."""
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                claimed = _due(now, batch_size)
                return _fire_together(claimed, now), len(claimed) == batch_size
        except _BatchFailed as exc:
            logger.warning("periodic firings: a batch's writes failed together (%s); firing it row by row", exc)
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
