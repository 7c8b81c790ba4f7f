"""The scheduler tick in-process, with a controlled clock (`tick(now=...)`), and once with a real worker."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from periodic_app import scheduler, services
from periodic_app.cron import parse_cron
from periodic_app.models import OverlapPolicy, PeriodicTask, PeriodicTaskHistory
from tests.support.sql import each_statement

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def make(world: Any, *, cron: dict | None = None, name: str = "nightly", now: dt.datetime,
         overlap: str = OverlapPolicy.ALLOW, business: Any = None) -> PeriodicTask:
    return services.create_periodic_task(
        business=business or world.business, template=world.quick_template, name=name,
        cron=parse_cron(cron or {}), creator="admin", enabled=True, overlap_policy=overlap, now=now,
    )


def tasks_of(periodic: PeriodicTask) -> list[Any]:
    from tasks_app.models import TaskInstance

    return list(TaskInstance.objects.filter(periodic_task_id=periodic.pk).order_by("id"))


def test_fires_once_when_due_and_advances(pt_world: Any) -> None:
    t0 = utc(2025, 1, 1, 0, 0, 10)
    periodic = make(pt_world, cron={"minute": "*/5"}, now=t0)
    assert periodic.next_run_at == utc(2025, 1, 1, 0, 5)

    assert scheduler.tick(now=utc(2025, 1, 1, 0, 4, 59)) == []
    firings = scheduler.tick(now=utc(2025, 1, 1, 0, 5, 1))
    assert len(firings) == 1 and firings[0].success and not firings[0].late
    assert scheduler.tick(now=utc(2025, 1, 1, 0, 5, 2)) == []  # advanced: nothing due any more

    periodic.refresh_from_db()
    assert periodic.next_run_at == utc(2025, 1, 1, 0, 10)
    assert periodic.total_run_count == 1 and periodic.last_run_at == utc(2025, 1, 1, 0, 5, 1)
    (task,) = tasks_of(periodic)
    # Named in the business's zone (Asia/Tokyo, +9), created and started from the stored snapshot.
    assert task.name == "nightly_20250101090501"
    assert task.create_method == "periodic" and task.creator == "admin" and task.is_started
    assert task.template_id == pt_world.quick_template.pk
    assert periodic.last_task_id == task.pk
    # the firing is in the task's audit log, as the scheduler's
    assert list(task.operations.order_by("id").values_list("operate_type", "operate_source", "operator")) == [
        ("create", "periodic", "admin"), ("start", "periodic", "admin")]
    (entry,) = PeriodicTaskHistory.objects.filter(periodic_task=periodic)
    assert (entry.scheduled_at, entry.fired_at, entry.task_id, entry.success, entry.late) == (
        utc(2025, 1, 1, 0, 5), utc(2025, 1, 1, 0, 5, 1), task.pk, True, False)


def test_long_name_is_cut_so_the_task_name_fits(pt_world: Any) -> None:
    from tasks_app.models import TASK_NAME_MAX_LENGTH, fired_task_name

    name = "n" * 50
    assert len(fired_task_name(name * 3, utc(2025, 1, 1), pt_world.business.tzinfo)) == TASK_NAME_MAX_LENGTH
    periodic = make(pt_world, name=name, now=utc(2025, 1, 1))
    scheduler.tick(now=utc(2025, 1, 1, 0, 1))
    assert tasks_of(periodic)[0].name == f"{name}_20250101090100"


def test_a_firing_costs_one_history_insert_and_one_audit_insert(pt_world: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    periodic = make(pt_world, cron={"minute": "*"}, now=utc(2025, 1, 1))
    with CaptureQueriesContext(connection) as queries:
        (firing,) = scheduler.tick(now=utc(2025, 1, 1, 0, 1, 1))
    assert firing.success
    sql = each_statement(queries)

    def on(table: str, verb: str) -> int:
        return sum(1 for s in sql if s.startswith(verb) and f'"{table}"' in s.split(" WHERE ")[0])

    # the history row is written once, with the firing's outcome (no INSERT then UPDATE)
    assert on("periodic_app_periodictaskhistory", "INSERT") == 1
    assert on("periodic_app_periodictaskhistory", "UPDATE") == 0
    # create and start, one statement
    assert on("tasks_app_taskoperation", "INSERT") == 1
    # The tick's transaction is a savepoint in the test's. On PostgreSQL the batch's writes go
    # together, with no savepoint per firing (a failure fires the batch again row by row); elsewhere
    # each firing takes one savepoint, and creating and starting the task none of its own.
    own = 0 if connection.vendor == "postgresql" else 1
    assert sum(s.startswith("SAVEPOINT") for s in sql) == 1 + own
    (task,) = tasks_of(periodic)
    entry = PeriodicTaskHistory.objects.get(periodic_task=periodic)
    assert (entry.task_id, entry.success, entry.skipped, entry.reason) == (task.pk, True, False, "")


def test_a_fire_time_already_in_the_history_is_not_fired_again_and_leaves_nothing(
        pt_world: Any, django_capture_on_commit_callbacks: Any) -> None:
    from pipeline_engine.runtime.models import Run
    from tasks_app.models import TaskOperation

    periodic = make(pt_world, cron={"minute": "*"}, now=utc(2025, 1, 1))
    PeriodicTaskHistory.objects.create(periodic_task=periodic, scheduled_at=utc(2025, 1, 1, 0, 1),
                                       fired_at=utc(2025, 1, 1, 0, 1), success=True)
    with django_capture_on_commit_callbacks() as callbacks:
        (firing,) = scheduler.tick(now=utc(2025, 1, 1, 0, 1, 1))
    assert not firing.success and not firing.skipped and firing.task_id is None
    assert firing.reason == "duplicate firing prevented: this fire time was already handled"
    # the firing's savepoint took the task it had created, its run and its audit rows with it
    assert tasks_of(periodic) == [] and Run.objects.count() == 0 and TaskOperation.objects.count() == 0
    assert callbacks == []  # and no engine message of that run will ever be sent
    assert PeriodicTaskHistory.objects.filter(periodic_task=periodic).count() == 1  # only the earlier one
    periodic.refresh_from_db()
    assert periodic.next_run_at == utc(2025, 1, 1, 0, 2) and periodic.total_run_count == 0

    (firing,) = scheduler.tick(now=utc(2025, 1, 1, 0, 2, 1))  # the next fire time is fired as usual
    assert firing.success and len(tasks_of(periodic)) == 1


def test_catch_up_after_downtime_fires_once_and_is_marked_late(pt_world: Any) -> None:
    periodic = make(pt_world, cron={"minute": "*"}, now=utc(2025, 1, 1, 0, 0))
    # The scheduler was down for a day: 1440 windows passed.
    back = utc(2025, 1, 2, 0, 0, 30)
    firings = scheduler.tick(now=back)
    assert len(firings) == 1
    assert scheduler.tick(now=back + dt.timedelta(seconds=5)) == []
    assert len(tasks_of(periodic)) == 1
    (entry,) = PeriodicTaskHistory.objects.filter(periodic_task=periodic)
    assert entry.late and entry.success
    assert entry.scheduled_at == utc(2025, 1, 1, 0, 1) and entry.fired_at == back
    assert entry.missed_windows == 1439  # 00:02 .. 00:00 next day, folded into this one firing
    periodic.refresh_from_db()
    assert periodic.next_run_at == utc(2025, 1, 2, 0, 1)  # the next fire time after now, not the next missed
    assert periodic.total_run_count == 1


def test_on_time_firing_is_not_late(pt_world: Any) -> None:
    periodic = make(pt_world, cron={"minute": "0"}, now=utc(2025, 1, 1, 0, 30))
    scheduler.tick(now=utc(2025, 1, 1, 1, 0, 2))
    (entry,) = PeriodicTaskHistory.objects.filter(periodic_task=periodic)
    assert not entry.late and entry.missed_windows == 0


def _mark(task: Any, *, started: bool, finished: bool) -> None:
    from tasks_app.models import TaskInstance

    TaskInstance.objects.filter(pk=task.pk).update(is_started=started, is_finished=finished)


def test_overlap_skip_while_previous_runs(pt_world: Any) -> None:
    periodic = make(pt_world, cron={"minute": "*"}, now=utc(2025, 1, 1), overlap=OverlapPolicy.SKIP)
    scheduler.tick(now=utc(2025, 1, 1, 0, 1, 1))
    (first,) = tasks_of(periodic)
    _mark(first, started=True, finished=False)  # still running

    firings = scheduler.tick(now=utc(2025, 1, 1, 0, 2, 1))
    assert len(firings) == 1 and firings[0].skipped and not firings[0].success
    assert len(tasks_of(periodic)) == 1
    entry = PeriodicTaskHistory.objects.get(periodic_task=periodic, scheduled_at=utc(2025, 1, 1, 0, 2))
    assert entry.skipped and not entry.success and entry.task_id is None
    assert f"task {first.pk}" in entry.reason and "still running" in entry.reason
    periodic.refresh_from_db()
    assert periodic.total_run_count == 1 and periodic.next_run_at == utc(2025, 1, 1, 0, 3)

    _mark(first, started=True, finished=True)  # finished: the next firing goes ahead
    scheduler.tick(now=utc(2025, 1, 1, 0, 3, 1))
    assert len(tasks_of(periodic)) == 2


def test_overlap_allow_fires_while_previous_runs(pt_world: Any) -> None:
    periodic = make(pt_world, cron={"minute": "*"}, now=utc(2025, 1, 1))
    scheduler.tick(now=utc(2025, 1, 1, 0, 1, 1))
    (first,) = tasks_of(periodic)
    _mark(first, started=True, finished=False)
    firings = scheduler.tick(now=utc(2025, 1, 1, 0, 2, 1))
    assert firings[0].success and not firings[0].skipped
    assert len(tasks_of(periodic)) == 2


def test_a_failed_firing_is_recorded_and_does_not_stop_the_others(pt_world: Any) -> None:
    now = utc(2025, 1, 1)
    broken = make(pt_world, name="broken", now=now)
    good = make(pt_world, name="good", now=now)
    # A snapshot the engine refuses (a flow to nowhere).
    tree = dict(broken.pipeline_tree)
    tree["flows"] = {**tree["flows"], "lineX": {"id": "lineX", "source": "nowhere", "target": "nothing",
                                                "is_default": False}}
    PeriodicTask.objects.filter(pk=broken.pk).update(pipeline_tree=tree)

    firings = scheduler.tick(now=utc(2025, 1, 1, 0, 1, 1))
    outcome = {f.periodic_task_id: f for f in firings}
    assert not outcome[broken.pk].success and outcome[broken.pk].reason
    assert outcome[good.pk].success
    entry = PeriodicTaskHistory.objects.get(periodic_task=broken)
    assert not entry.success and not entry.skipped and entry.reason and entry.task_id is None
    assert tasks_of(broken) == [] and len(tasks_of(good)) == 1
    broken.refresh_from_db()
    # Not retried in a loop: the next fire time is scheduled as usual, the count unchanged.
    assert broken.next_run_at == utc(2025, 1, 1, 0, 2) and broken.total_run_count == 0


def test_disabled_tasks_do_not_fire(pt_world: Any) -> None:
    periodic = make(pt_world, now=utc(2025, 1, 1))
    services.set_enabled(business=pt_world.business, task_id=periodic.pk, enabled=False, editor="admin")
    assert scheduler.tick(now=utc(2025, 1, 1, 0, 5)) == []


def test_modify_cron_while_enabled_recomputes_the_next_fire(pt_world: Any) -> None:
    periodic = make(pt_world, cron={"minute": "0", "hour": "3"}, now=utc(2025, 1, 1))
    services.modify_cron(business=pt_world.business, task_id=periodic.pk, cron=parse_cron({"minute": "*/10"}),
                         editor="admin", now=utc(2025, 1, 1, 0, 3))
    periodic.refresh_from_db()
    assert periodic.next_run_at == utc(2025, 1, 1, 0, 10) and periodic.enabled


def test_reenabling_keeps_a_pending_catch_up(pt_world: Any) -> None:
    periodic = make(pt_world, now=utc(2025, 1, 1))
    services.set_enabled(business=pt_world.business, task_id=periodic.pk, enabled=True, editor="admin",
                         now=utc(2025, 1, 5))
    periodic.refresh_from_db()
    assert periodic.next_run_at == utc(2025, 1, 1, 0, 1)


def _day_of_firings(world: Any, zone: str, cron: dict, start: dt.datetime, hours: int) -> list[str]:
    """Tick every 20 s across `hours` and return the local times the tasks were fired for."""
    from access_app.models import Business

    business = Business.objects.create(bk_biz_id=Business.objects.count() + 100, name=zone, time_zone=zone)
    periodic = make(world, cron=cron, now=start, business=business)
    now = start
    while now < start + dt.timedelta(hours=hours):
        now += dt.timedelta(seconds=20)
        scheduler.tick(now=now)
    return [e.scheduled_at.astimezone(business.tzinfo).isoformat()
            for e in PeriodicTaskHistory.objects.filter(periodic_task=periodic).order_by("scheduled_at")]


def test_dst_berlin_spring_forward_fires_once_at_the_first_valid_minute(pt_world: Any) -> None:
    got = _day_of_firings(pt_world, "Europe/Berlin", {"minute": "30", "hour": "2"}, utc(2025, 3, 29, 23), 5)
    assert got == ["2025-03-30T03:00:00+02:00"]


def test_dst_berlin_fall_back_fires_once(pt_world: Any) -> None:
    got = _day_of_firings(pt_world, "Europe/Berlin", {"minute": "30", "hour": "2"}, utc(2025, 10, 25, 23), 5)
    assert got == ["2025-10-26T02:30:00+02:00"]


def test_dst_sydney_both_transitions_fire_once(pt_world: Any) -> None:
    got = _day_of_firings(pt_world, "Australia/Sydney", {"minute": "30", "hour": "2"}, utc(2025, 10, 4, 13), 5)
    assert got == ["2025-10-05T03:00:00+11:00"]
    got = _day_of_firings(pt_world, "Australia/Sydney", {"minute": "30", "hour": "2"}, utc(2025, 4, 5, 13), 5)
    assert got == ["2025-04-06T02:30:00+11:00"]




@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_fired_task_runs_to_the_end(pt_world: Any, celery_worker_proc: Any, wait_for: Any) -> None:
    from tasks_app.models import TaskInstance

    start = dt.datetime.now(dt.UTC)
    periodic = services.create_periodic_task(
        business=pt_world.business, template=pt_world.quick_template, name="e2e", creator="admin",
        cron=parse_cron({}), enabled=True, overlap_policy=OverlapPolicy.SKIP, now=start)
    due = periodic.next_run_at
    (firing,) = scheduler.tick(now=due + dt.timedelta(seconds=1))
    assert firing.success
    task = TaskInstance.objects.get(pk=firing.task_id)
    assert task.is_started and task.periodic_task_id == periodic.pk
    wait_for(lambda: TaskInstance.objects.get(pk=task.pk).is_finished, timeout=60,
             message="the periodic task's run to finish")
    # The previous run has finished, so `skip` fires the next minute.
    (second,) = scheduler.tick(now=due + dt.timedelta(minutes=1, seconds=1))
    assert second.success and not second.skipped
    assert PeriodicTaskHistory.objects.filter(periodic_task=periodic, success=True).count() == 2
    # The test ends only once the worker is done with the second run too: a flush of the tables
    # while the worker still writes them deadlocks on PostgreSQL (seen once in CI).
    wait_for(lambda: TaskInstance.objects.get(pk=second.task_id).is_finished, timeout=60,
             message="the second periodic task's run to finish")
