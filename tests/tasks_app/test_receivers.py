"""The run_finished receiver mirrors a run's end on its task, and never breaks the engine's flow."""
from __future__ import annotations

import logging

import pytest

from pipeline_engine.signals import run_finished
from tasks_app import receivers, services
from tasks_app.models import TaskInstance
from tests.support.task_world import create_task

pytestmark = pytest.mark.django_db


def test_the_signal_records_the_end(world, fake_engine):
    task = create_task(world)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    run_finished.send(sender=None, run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})
    assert TaskInstance.objects.get(pk=task.pk).is_finished


def test_a_failure_to_record_is_logged_not_raised(world, fake_engine, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database is gone")
    monkeypatch.setattr(services, "record_run_end", broken)
    with caplog.at_level(logging.ERROR, logger="sops.tasks"):
        receivers.on_run_finished(run_id="r1", state="FINISHED", meta={"task_id": 1})
    assert "could not record the end of run r1" in caplog.text
