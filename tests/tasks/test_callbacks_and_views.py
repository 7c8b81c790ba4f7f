"""callback_url delivery (backoff, give-up, allowlist) and view-level atomicity, engine faked."""
from __future__ import annotations

import json

import pytest
import requests

from tasks_app import callbacks, services
from tasks_app.models import CallbackStatus, TaskCallbackRecord, TaskInstance

pytestmark = pytest.mark.django_db


class _Resp:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.text = "nope"


def _record(world, fake_engine, monkeypatch, url="http://127.0.0.1:9/hook"):
    monkeypatch.setattr(callbacks, "_dispatch", lambda *a, **k: None)
    task = services.create_task(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                                app_code="app_code", callback_url=url)
    services.start_task(task=task, executor="alice")
    task.refresh_from_db()
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})  # a repeat
    (record,) = TaskCallbackRecord.objects.filter(task=task)
    return record


def test_delivery_backs_off_then_gives_up(world, fake_engine, monkeypatch):
    record = _record(world, fake_engine, monkeypatch)
    sent = []
    monkeypatch.setattr(requests, "post", lambda url, json, **kw: sent.append(json) or _Resp(500))
    delays = [callbacks.attempt_delivery(record.pk) for _ in range(callbacks.MAX_ATTEMPTS)]
    assert delays == [2, 4, 8, 16, 32, None]
    record.refresh_from_db()
    assert record.status == CallbackStatus.FAILED and record.attempts == 6 and record.last_status_code == 500
    assert callbacks.attempt_delivery(record.pk) is None and len(sent) == 6
    assert sent[0]["state"] == "FINISHED" and sent[0]["task_id"] == record.task_id


def test_delivery_success_and_connection_errors(world, fake_engine, monkeypatch):
    record = _record(world, fake_engine, monkeypatch)
    answers = iter([requests.ConnectionError("refused"), _Resp(204)])

    def post(url, json, **kw):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer
    monkeypatch.setattr(requests, "post", post)
    assert callbacks.attempt_delivery(record.pk) == 2
    assert callbacks.attempt_delivery(record.pk) is None
    record.refresh_from_db()
    assert record.status == CallbackStatus.SUCCESS and record.attempts == 2


def test_allowlist_is_checked_again_at_delivery(world, fake_engine, monkeypatch, settings):
    record = _record(world, fake_engine, monkeypatch)
    settings.SOPS_HTTP_ALLOWLIST = ["example.org"]
    monkeypatch.setattr(requests, "post", lambda *a, **k: pytest.fail("must not send"))
    assert callbacks.attempt_delivery(record.pk) is None
    record.refresh_from_db()
    assert record.status == CallbackStatus.FAILED and "SOPS_HTTP_ALLOWLIST" in record.last_error


def test_create_and_start_is_one_transaction(world, fake_engine, client):
    from pipeline_engine.errors import InvalidOperation

    def refuse(tree, **kwargs):
        raise InvalidOperation("engine says no")
    fake_engine.run_pipeline = refuse
    body = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token", "name": "x"}
    answer = client.post("/apigw/create_and_start_task/10/2/", json.dumps(body), content_type="text/plain").json()
    assert answer == {"result": False, "data": None, "message": "engine says no", "code": 3545000}
    assert TaskInstance.objects.count() == 0


def test_start_refused_by_engine_leaves_task_unstarted(world, fake_engine, client):
    from pipeline_engine.errors import InvalidOperation

    task = services.create_task(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                                app_code="app_code")

    def refuse(tree, **kwargs):
        raise InvalidOperation("engine says no")
    fake_engine.run_pipeline = refuse
    body = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
    answer = client.post(f"/apigw/start_task/{task.pk}/2/", json.dumps(body), content_type="application/json")
    assert answer.json()["result"] is False
    task.refresh_from_db()
    assert not task.is_started and not task.run_id and task.start_time is None
