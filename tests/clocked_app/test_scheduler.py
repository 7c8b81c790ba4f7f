"""The clocked tick: a plan starts once at its time, after downtime too, with any number of schedulers
(threads racing on one row, and two run_scheduler processes)."""
from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from clocked_app import scheduler, services
from clocked_app.models import ClockedState, ClockedTask
from tasks_app.models import CreateMethod, TaskInstance
from tests.sops_api.management.commands.test_run_scheduler import (
    SimulatedClock,
    skip_unless_shareable_database,
    start_scheduler,
    stop_schedulers,
)

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def plan(world, *, at: dt.datetime = NOW, template: int = 10, name: str = "nightly",
         params: dict | None = None) -> ClockedTask:
    """A plan made at `at` minus an hour (the future then), due at `at`."""
    template_obj = world.templates[template]
    clocked = services.create_clocked_task(business=template_obj.business, template=template_obj, task_name=name,
                                           plan_start_time="2099-01-01 00:00:00", task_parameters=params,
                                           creator="alice")
    ClockedTask.objects.filter(pk=clocked.pk).update(plan_start_time=at)
    clocked.refresh_from_db()
    return clocked


@pytest.mark.django_db
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's counts of rows read")
def test_a_claim_reads_its_batch_not_every_due_plan(world):
    from django.db import transaction

    from tests.support.sql import rows_read

    first = plan(world)
    fields = {f.attname: getattr(first, f.attname) for f in ClockedTask._meta.concrete_fields if not f.primary_key}
    ClockedTask.objects.bulk_create([ClockedTask(**{**fields, "task_name": f"burst {i}"}) for i in range(1500)])
    table = ClockedTask._meta.db_table
    with transaction.atomic():
        before = rows_read(table)
        claimed = scheduler._due(NOW, 20)
        read = rows_read(table) - before
    assert len(claimed) == 20 and claimed[0].pk == first.pk
    assert read < 100, f"the claim read {read} rows of {table} for a batch of 20"


@pytest.mark.django_db
def test_fires_once_at_its_time(world, fake_engine):
    clocked = plan(world, params={"constants": {"${bk_timing}": "7"}, "description": "d"})
    assert scheduler.tick(now=NOW - dt.timedelta(seconds=1)) == []
    (firing,) = scheduler.tick(now=NOW)
    clocked.refresh_from_db()
    task = TaskInstance.objects.get(pk=firing.task_id)
    assert firing.success and clocked.state == ClockedState.STARTED and clocked.task_id == task.pk
    assert clocked.fired_at == NOW and clocked.reason == ""
    # named in the business's zone (Asia/Shanghai), started as the plan's creator
    assert task.name == "nightly_20300101200000" and task.create_method == CreateMethod.CLOCKED
    assert task.is_started and task.executor == "alice" and task.creator == "alice" and task.description == "d"
    assert task.pipeline_tree["constants"]["${bk_timing}"]["value"] == "7"
    assert fake_engine.names().count("start_pipeline") == 1
    assert scheduler.tick(now=NOW + dt.timedelta(hours=1)) == []
    assert TaskInstance.objects.count() == 1


@pytest.mark.django_db
def test_catch_up_after_downtime_fires_once(world, fake_engine):
    clocked = plan(world, at=NOW - dt.timedelta(days=2))
    firings = scheduler.tick(now=NOW)
    assert [f.clocked_task_id for f in firings] == [clocked.pk]
    clocked.refresh_from_db()
    assert clocked.fired_at == NOW and clocked.plan_start_time == NOW - dt.timedelta(days=2)
    assert scheduler.tick(now=NOW + dt.timedelta(seconds=5)) == [] and TaskInstance.objects.count() == 1


@pytest.mark.django_db
def test_node_selection_is_applied_when_it_fires(world, fake_engine):
    plan(world, template=11, params={"appoint_task_nodes_id": ["opt_b"]})
    (firing,) = scheduler.tick(now=NOW)
    tree = TaskInstance.objects.get(pk=firing.task_id).pipeline_tree
    assert {a["name"] for a in tree["activities"].values()} == {"first", "opt_b", "keep_b"}


@pytest.mark.django_db
def test_a_failed_start_is_recorded_and_not_retried(world, fake_engine):
    broken, fine = plan(world, name="broken"), plan(world, name="fine")
    world.templates[10].__class__.objects.filter(pk=10).update(is_deleted=True)
    firings = {f.clocked_task_id: f for f in scheduler.tick(now=NOW)}
    broken.refresh_from_db()
    assert broken.state == ClockedState.START_FAILED and broken.task_id is None
    assert broken.reason == "NotFound: template[id=10] has been deleted" and not firings[broken.pk].success
    assert ClockedTask.objects.get(pk=fine.pk).state == ClockedState.START_FAILED  # same template
    assert TaskInstance.objects.count() == 0 and scheduler.tick(now=NOW + dt.timedelta(minutes=1)) == []


@pytest.mark.django_db
def test_a_second_firing_of_a_plan_finds_the_first_task(world, fake_engine):
    clocked = plan(world)
    (first,) = scheduler.tick(now=NOW)
    # As if a firing's state change were lost while its task was kept: the request_id finds that task.
    ClockedTask.objects.filter(pk=clocked.pk).update(state=ClockedState.NOT_STARTED)
    (second,) = scheduler.tick(now=NOW + dt.timedelta(seconds=1))
    assert second.success and second.task_id == first.task_id and TaskInstance.objects.count() == 1
    assert fake_engine.names().count("start_pipeline") == 1


@pytest.mark.django_db
def test_the_maintenance_tick_fires_due_plans(world, fake_engine):
    from sops_api.maintenance import Maintenance

    clocked = plan(world, at=timezone.now() - dt.timedelta(seconds=1))
    Maintenance(batch_size=5, sweep=False).tick()
    assert ClockedTask.objects.get(pk=clocked.pk).state == ClockedState.STARTED


@pytest.mark.django_db(transaction=True)
def test_schedulers_racing_on_the_same_plans_fire_each_once(live_world, fake_engine, monkeypatch):
    plans = [plan(live_world, name=f"p{i}") for i in range(6)]
    ready = threading.Barrier(3)
    real_due = scheduler._due

    def due_together(now: dt.datetime, batch_size: int) -> list[ClockedTask]:
        ready.wait(timeout=10)  # every scheduler is inside its claiming transaction before any claims
        return real_due(now, batch_size)
    if connection.vendor != "sqlite":
        # SQLite's claiming transactions take the write lock as they open (BEGIN IMMEDIATE), so there they
        # queue one behind the other instead; racing them at a barrier would deadlock.
        monkeypatch.setattr(scheduler, "_due", due_together)
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(scheduler.tick(now=NOW, batch_size=2))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [r for r in results if isinstance(r, Exception)], results
    fired = sorted(f.clocked_task_id for firings in results for f in firings)
    assert fired == sorted(p.pk for p in plans)
    assert TaskInstance.objects.count() == 6
    assert set(ClockedTask.objects.values_list("state", flat=True)) == {ClockedState.STARTED}


@pytest.mark.django_db(transaction=True)
def test_two_scheduler_processes_start_each_plan_once(live_world, tmp_path: Path):
    """Two `run_scheduler` processes on the real clock; plans due in the past (downtime) and in the
    next seconds. Each starts once, and every task is started."""
    skip_unless_shareable_database()
    now = timezone.now()
    plans = [plan(live_world, at=now - dt.timedelta(hours=3), name="missed")]
    plans += [plan(live_world, at=now + dt.timedelta(seconds=0.5 * i), name=f"soon{i}") for i in range(8)]
    procs = [start_scheduler(i, SimulatedClock(1), tmp_path) for i in range(2)]
    try:
        deadline = time.monotonic() + 60
        while ClockedTask.objects.filter(state=ClockedState.NOT_STARTED).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # a late duplicate would show up by now
    finally:
        codes = stop_schedulers(procs)
    logs = {path.name: path.read_text() for _, path in procs}
    assert codes == [0, 0], {name: text[-5000:] for name, text in logs.items()}
    assert not any("Traceback" in text for text in logs.values()), logs
    rows = list(ClockedTask.objects.values_list("state", "task_id"))
    assert {state for state, _ in rows} == {ClockedState.STARTED}, (rows, logs)
    task_ids = [task_id for _, task_id in rows]
    assert len(set(task_ids)) == len(plans) and TaskInstance.objects.count() == len(plans)
    assert TaskInstance.objects.filter(is_started=True, create_method=CreateMethod.CLOCKED).count() == len(plans)
    fired_by = [text.count("clocked task") for text in logs.values()]
    assert sum(fired_by) >= len(plans)
