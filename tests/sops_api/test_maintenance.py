"""The maintenance tick: every job once per tick, a failing job never stops the others, lost run ends recorded."""
from __future__ import annotations

import logging

import pytest
from django.core.management import call_command

from sops_api import maintenance
from tasks_app import callbacks, services
from tasks_app.models import TaskCallbackRecord, TaskInstance
from tests.support.task_world import create_task, ended_run


@pytest.fixture
def jobs(monkeypatch):
    """Each job of the tick replaced by a recorder (the real ones are tested in their apps)."""
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(maintenance.scheduler, "tick", lambda **kw: calls.append(("tick", kw)) or [])
    monkeypatch.setattr(maintenance.clocked_scheduler, "tick", lambda **kw: calls.append(("clocked", kw)) or [])
    monkeypatch.setattr(maintenance, "engine_sweep", lambda: calls.append(("sweep", {})) or {})
    monkeypatch.setattr(maintenance.callbacks, "resend_stuck", lambda: calls.append(("resend", {})) or 0)

    def reconcile(**kw):
        calls.append(("reconcile", kw))
        return services.Reconciled(recorded=0, next_after_id=kw["after_id"] + 10)
    monkeypatch.setattr(maintenance.services, "reconcile_run_ends", reconcile)
    return calls


def test_a_tick_runs_every_job_once_in_order(jobs):
    maintenance.Maintenance(batch_size=7).tick()
    (clocked,) = [kw for name, kw in jobs if name == "clocked"]
    assert clocked["batch_size"] == 7 and clocked["now"].tzinfo is not None
    assert [(name, kw) for name, kw in jobs if name != "clocked"] == [
        ("tick", {"batch_size": 7, "threads": None}), ("sweep", {}), ("reconcile", {"after_id": 0}), ("resend", {})]
    assert [name for name, _ in jobs] == ["tick", "clocked", "sweep", "reconcile", "resend"]


def test_the_firing_threads_reach_the_periodic_tick(jobs):
    maintenance.Maintenance(batch_size=5, firing_threads=3).tick()
    assert [kw for name, kw in jobs if name == "tick"] == [{"batch_size": 5, "threads": 3}]


def test_without_the_sweep(jobs):
    maintenance.Maintenance(batch_size=7, sweep=False).tick()
    assert [name for name, _ in jobs] == ["tick", "clocked", "reconcile", "resend"]


def test_reconciliation_goes_on_where_the_last_tick_stopped(jobs):
    loop = maintenance.Maintenance(batch_size=1, sweep=False)
    loop.tick()
    loop.tick()
    assert [kw["after_id"] for name, kw in jobs if name == "reconcile"] == [0, 10]


def test_a_failing_job_is_logged_and_the_others_still_run(jobs, monkeypatch, caplog):
    def broken(**kw):
        raise RuntimeError("database went away")
    monkeypatch.setattr(maintenance.scheduler, "tick", broken)
    with caplog.at_level(logging.ERROR, logger="sops.maintenance"):
        maintenance.Maintenance(batch_size=1).tick()
    assert [name for name, _ in jobs] == ["clocked", "sweep", "reconcile", "resend"]
    assert "periodic tick failed" in caplog.text


def test_a_job_that_meets_a_broker_outage_is_one_warning_line(jobs, monkeypatch, caplog):
    from kombu.exceptions import OperationalError

    def broker_down() -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    monkeypatch.setattr(maintenance, "engine_sweep", broker_down)
    with caplog.at_level(logging.WARNING, logger="sops.maintenance"):
        maintenance.Maintenance(batch_size=1).tick()
    [record] = [r for r in caplog.records if r.name == "sops.maintenance"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage() == ("engine sweep failed; retrying on the next tick: the broker is unavailable: "
                                   "OperationalError: Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    assert [name for name, _ in jobs] == ["tick", "clocked", "reconcile", "resend"]


@pytest.mark.django_db
def test_the_tick_records_a_lost_run_end_and_queues_its_callback_once(
        world, fake_engine, monkeypatch, django_capture_on_commit_callbacks, settings):
    dispatched: list[int] = []
    monkeypatch.setattr(callbacks, "_dispatch", lambda record_id, dispatch: dispatched.append(record_id))
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the callback_url is loopback, which only an entry opens
    task = create_task(world, callback_url="http://127.0.0.1:9/hook")
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    fake_engine.status_trees[task.run_id] = ended_run(task)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_scheduler", "--once", "--no-sweep")
        call_command("run_scheduler", "--once", "--no-sweep")
    assert TaskInstance.objects.get(pk=task.pk).is_finished
    (record,) = TaskCallbackRecord.objects.filter(task=task)
    assert dispatched == [record.pk]
