"""The run_finished receiver mirrors a run's end on its task, and never breaks the engine's flow."""
from __future__ import annotations

import logging

import pytest

from pipeline_engine.signals import run_finished
from tasks_app import receivers, services
from tasks_app.models import OperateSource, TaskInstance
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


def test_a_node_failure_queues_one_form_callback_per_failure(world, fake_engine, settings, monkeypatch):
    from pipeline_engine.signals import node_failed
    from tasks_app import callbacks
    from tasks_app.models import TaskCallbackRecord

    monkeypatch.setattr(callbacks, "_dispatch", lambda *a: None)
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]
    task = create_task(world, callback_url="http://127.0.0.1:9/hook")
    services.start_task(task=task, executor="alice", source=OperateSource.API)
    task.refresh_from_db()
    for _ in range(2):  # failed, retried, failed again
        node_failed.send(sender=None, run_id=task.run_id, node_id="n1", meta={"task_id": task.pk})
    services.record_run_end(run_id=task.run_id, state="FAILED", meta={"task_id": task.pk})  # told node by node
    records = list(TaskCallbackRecord.objects.filter(task=task).order_by("id"))
    assert [(r.state, r.node_id, r.body_format, r.payload) for r in records] == [
        ("FAILED", "n1", "form", {"task_id": str(task.pk), "task_success": "False"})] * 2
    quiet = create_task(world, name="no callback")
    assert services.record_node_failure(run_id="", node_id="n1", meta={"task_id": quiet.pk}) is None


def test_a_failure_to_report_a_node_failure_is_logged_not_raised(world, fake_engine, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database is gone")
    monkeypatch.setattr(services, "record_node_failure", broken)
    with caplog.at_level(logging.ERROR, logger="sops.tasks"):
        receivers.on_node_failed(run_id="r1", node_id="n1", meta={"task_id": 1})
    assert "could not report the failure of node n1 of run r1" in caplog.text
