"""Reads on tasks: status, counts, business scope, and that reads never write; engine faked."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from sops_common.errors import InvalidInput, NotFound
from tasks_app import selectors, services
from tests.support.task_world import create_task, ended_run, writes

pytestmark = pytest.mark.django_db

ID = re.compile(r"^node[0-9a-f]{28}$")


def test_not_started_status_is_exact(world, fake_engine):
    assert selectors.task_status(create_task(world)) == {
        "start_time": None, "state": "CREATED", "retry": 0, "skip": 0, "finish_time": None,
        "elapsed_time": 0, "children": {}}


def test_status_formats_times_and_names(world, fake_engine):
    task = create_task(world, name="my task")
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    timer = next(i for i, a in task.pipeline_tree["activities"].items() if a["component"]["code"] == "sleep_timer")
    t0 = dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=dt.UTC)
    # Like the real engine, the fake names each node from the tree (the status read relies on it).
    node = {"id": timer, "state": "RUNNING", "name": task.pipeline_tree["activities"][timer]["name"], "retry": 0, "skip": False, "loop": 1, "version": "v",
            "error_ignorable": False, "start_time": t0, "finish_time": None, "elapsed_time": 1, "children": {}}
    fake_engine.status_trees[task.run_id] = {**node, "id": task.run_id, "children": {timer: node}}
    data = selectors.task_status(task)
    assert data["name"] == "my task" and data["start_time"] == "2024-01-01 08:00:00 +0800"
    assert data["children"][timer]["name"] == "定时" and data["children"][timer]["finish_time"] is None
    batch = selectors.tasks_status(world.biz2, [task.pk, create_task(world).pk])
    assert [b["status"]["state"] for b in batch] == ["RUNNING", "CREATED"] and batch[0]["status"]["children"] == {}


def test_other_business_task_is_not_found(world, fake_engine):
    task = create_task(world)
    with pytest.raises(NotFound, match=rf"task\[id={task.pk}\] of business\[bk_biz_id=1\] does not exist"):
        selectors.get_task(world.biz1, task.pk)


def test_query_task_count_groups_and_whitelist(world, fake_engine):
    a = create_task(world, name="alpha")
    create_task(world, name="beta", flow_type="common_func")
    create_task(world, 30, name="other business")
    services.start_task(task=a, executor="alice", source="api")
    data = selectors.task_count(world.biz2, "flow_type", {"is_started": True})
    assert data == {"total": 1, "groups": [{"code": "common", "name": "默认任务流程", "value": 1},
                                           {"code": "common_func", "name": "职能化任务流程", "value": 0}]}
    status = selectors.task_count(world.biz2, "status", {})
    assert [(g["code"], g["name"], g["value"]) for g in status["groups"]] == [
        ("CREATED", "未执行", 1), ("EXECUTING", "执行中", 1), ("FINISHED", "已完成", 0)]
    cats = selectors.task_count(world.biz2, "category", {"name": "alpha"})
    assert len(cats["groups"]) == 8 and cats["total"] == 1 and cats["groups"][0]["name"] == "运维工具"  # the seven categories and the original's Default
    methods = selectors.task_count(world.biz2, "create_method", {"creator": "alice", "template_id": "10"})
    assert [g["code"] for g in methods["groups"]][:2] == ["app", "api"] and methods["total"] == 2
    later = (timezone.now() + dt.timedelta(days=1)).astimezone(world.biz2.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    assert selectors.task_count(world.biz2, "status", {"create_time__gte": later})["total"] == 0
    assert selectors.task_count(world.biz2, "status", {"create_time__lte": later, "type": "x",
                                                       "executor": ""})["total"] == 2
    for bad in ({"business_id": 1}, {"business__bk_biz_id": 1}, {"name__regex": ".*"}, {"is_started": "maybe"},
                {"create_time__lte": "yesterday"}, {"template__business": 1}):
        with pytest.raises(InvalidInput, match=r"have invalid key or value"):
            selectors.task_count(world.biz2, "status", bad)
    with pytest.raises(InvalidInput, match=r"query_task_list params group_by\[x\] is invalid"):
        selectors.task_count(world.biz2, "x", {})
    with pytest.raises(InvalidInput, match="are invalid dict data"):
        selectors.task_count(world.biz2, "status", [1])


def test_query_task_count_is_one_query(world, fake_engine, django_assert_num_queries):
    create_task(world)
    with django_assert_num_queries(1):
        selectors.task_count(world.biz2, "category", {"is_started": False})


def test_reads_of_an_ended_but_unrecorded_run_answer_the_engine_and_write_nothing(
        world, fake_engine, client, django_capture_on_commit_callbacks, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_app.models import TaskCallbackRecord, TaskInstance

    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the callback_url is loopback, which only an entry opens
    task = create_task(world, callback_url="http://127.0.0.1:9/hook")
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    # The engine ended the run; its run_finished signal never reached the task (a lost signal).
    fake_engine.status_trees[task.run_id] = ended_run(task, "REVOKED")
    creds = world.creds()
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as sent:
        status = client.get(f"/apigw/get_task_status/{task.pk}/2/", creds).json()
        detail = client.get(f"/apigw/get_task_detail/{task.pk}/2/", creds).json()
        batch = client.post("/apigw/get_tasks_status/2/", {**creds, "task_id_list": [task.pk]},
                            content_type="application/json").json()
    assert status["data"]["state"] == "REVOKED"
    assert detail["data"]["is_finished"] is True and detail["data"]["is_revoked"] is True
    assert detail["data"]["finish_time"] == "2024-01-01 08:00:05 +0800"
    assert batch["data"][0]["is_finished"] is True and batch["data"][0]["status"]["state"] == "REVOKED"
    assert writes(queries) == [] and sent == []
    task.refresh_from_db()
    assert not task.is_finished and task.finish_time is None
    assert not TaskCallbackRecord.objects.filter(task=task).exists()
    assert TaskInstance.objects.filter(pk=task.pk, is_finished=False).exists()


def test_a_run_still_going_reads_as_the_task_row_says(world, fake_engine):
    task = create_task(world)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    fake_engine.status_trees[task.run_id] = ended_run(task, "FAILED")
    assert selectors.end_flags(task, "FAILED") == (False, False)
    assert selectors.end_flags(task, "RUNNING") == (False, False)
    assert selectors.end_flags(task, "FINISHED") == (True, False)
    assert selectors.tasks_status(world.biz2, [task.pk])[0]["is_finished"] is False
