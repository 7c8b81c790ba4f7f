"""create/start/claim/count on our side, with the engine faked (the live tests use the real one)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from pipeline_engine import api as engine_api
from sops_api.apigw.errors import BadRequest, InvalidOperation, NotFound
from tasks_app import selectors, services
from tasks_app.models import TaskInstance

pytestmark = pytest.mark.django_db

ID = re.compile(r"^node[0-9a-f]{28}$")


def create(world, template_pk=10, **kw):
    template = world.templates[template_pk]
    business = template.business or world.biz2
    return services.create_task(business=business, template=template, name=kw.pop("name", "t"), creator="alice",
                                app_code="app_code", **kw)


def test_create_records_origin_and_regenerates_ids(world, fake_engine):
    task = create(world, constants={"${bk_timing}": "3", "${not_defined}": "x"}, description="why")
    assert task.create_method == "api" and task.create_info == "app_code" and task.creator == "alice"
    assert task.template_id == 10 and task.template_version == world.templates[10].version
    assert task.category == "OpsTools" and task.current_flow == "execute_task" and not task.is_started
    tree = task.pipeline_tree
    assert all(ID.match(n) for n in tree["activities"])
    assert tree["constants"]["${bk_timing}"]["value"] == "3" and "${not_defined}" not in tree["constants"]
    (src,) = tree["constants"]["${bk_timing}"]["source_info"]
    assert tree["activities"][src]["component"]["code"] == "sleep_timer"
    assert fake_engine.names() == ["validate_pipeline"]
    assert task.url.endswith(f"taskflow/execute/2/?instance_id={task.pk}")


def test_invalid_tree_is_refused_and_leaves_nothing(world, fake_engine):
    fake_engine.fail_validation = "node[id=x] has no outgoing flow"
    with pytest.raises(BadRequest, match="no outgoing flow"):
        create(world)
    assert TaskInstance.objects.count() == 0


@pytest.mark.parametrize("kwargs", [
    {"name": ""}, {"name": "x" * 101}, {"flow_type": "weird"}, {"constants": ["not", "a dict"]},
    {"exclude_task_nodes_id": ["timer"]}, {"callback_url": "ftp://127.0.0.1/x"},
    {"callback_url": "http://169.254.169.254/latest"},
])
def test_refusals_leave_nothing(world, fake_engine, kwargs):
    with pytest.raises(BadRequest):
        create(world, **kwargs)
    assert TaskInstance.objects.count() == 0


def test_request_id_is_idempotent_per_app_and_business(world, fake_engine):
    first = create(world, request_id="r-1")
    again = create(world, request_id="r-1", name="other name")
    assert again.pk == first.pk and TaskInstance.objects.count() == 1
    other_app = services.create_task(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                                     app_code="another_app", request_id="r-1")
    assert other_app.pk != first.pk


def test_common_template_and_subprocess_unfolding(world, fake_engine):
    from tests.tasks import trees
    from tests.tasks.conftest import make_template

    b = trees.TreeBuilder()
    b.act({"id": "sub", "type": "SubProcess", "name": "child", "template_id": 40, "incoming": "", "outgoing": "",
           "constants": {"${bk_timing}": {"key": "${bk_timing}", "value": "${parent_t}", "show_type": "show"}}})
    b.chain("start", "sub", "end").const("parent_t", "7")
    world.templates[12] = make_template(12, "parent", b.build(), world.biz2)
    task = create(world, 12)
    (sub,) = task.pipeline_tree["activities"].values()
    assert sub["pipeline"]["id"] == sub["id"]
    assert sub["pipeline"]["constants"]["${bk_timing}"]["value"] == "${parent_t}"
    assert set(engine_api.node_names(task.pipeline_tree).values()) >= {"定时", "暂停", "child"}
    assert "${parent_t}" in task.pipeline_tree["constants"]


def test_subprocess_cycle_is_refused(world, fake_engine):
    from tests.tasks import trees
    from tests.tasks.conftest import make_template

    b = trees.TreeBuilder()
    b.act({"id": "sub", "type": "SubProcess", "name": "me", "template_id": 13, "incoming": "", "outgoing": "",
           "constants": {}})
    b.chain("start", "sub", "end")
    world.templates[13] = make_template(13, "self", b.build(), world.biz2)
    with pytest.raises(BadRequest, match="include itself"):
        create(world, 13)


def test_start_marks_and_runs_once(world, fake_engine):
    task = create(world)
    services.start_task(task=task, executor="alice")
    task.refresh_from_db()
    assert task.is_started and task.executor == "alice" and task.run_id and task.start_time
    (name, (tree,), kwargs) = fake_engine.calls[-1]
    assert name == "run_pipeline" and tree == task.pipeline_tree
    assert kwargs["meta"] == {"task_id": task.pk} and kwargs["time_zone"] == "Asia/Shanghai"
    with pytest.raises(InvalidOperation, match="task already started"):
        services.start_task(task=task, executor="alice")


def test_functional_task_must_be_claimed_first(world, fake_engine):
    task = create(world, flow_type="common_func")
    with pytest.raises(InvalidOperation, match="task with current_flow:func_claim cannot be started"):
        services.start_task(task=task, executor="alice")
    services.claim_functionalization_task(task=task, username="bob", constants={"${bk_timing}": "9"}, name="n2")
    task.refresh_from_db()
    assert task.name == "n2" and task.pipeline_tree["constants"]["${bk_timing}"]["value"] == "9"
    with pytest.raises(InvalidOperation, match="cannot be claimed"):
        services.claim_functionalization_task(task=task, username="bob")
    services.start_task(task=task, executor="alice")
    with pytest.raises(InvalidOperation, match="task is not functional"):
        services.claim_functionalization_task(task=create(world), username="bob")


def test_operate_requires_started_and_known_action(world, fake_engine):
    task = create(world)
    with pytest.raises(BadRequest, match="task action is invalid"):
        services.operate_task(task=task, action="explode", username="alice")
    with pytest.raises(InvalidOperation, match="task not started"):
        services.operate_task(task=task, action="pause", username="alice")


def test_not_started_status_is_exact(world, fake_engine):
    assert selectors.task_status(create(world)) == {
        "start_time": None, "state": "CREATED", "retry": 0, "skip": 0, "finish_time": None,
        "elapsed_time": 0, "children": {}}


def test_status_formats_times_and_names(world, fake_engine):
    task = create(world, name="my task")
    services.start_task(task=task, executor="alice")
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
    batch = selectors.tasks_status(world.biz2, [task.pk, create(world).pk])
    assert [b["status"]["state"] for b in batch] == ["RUNNING", "CREATED"] and batch[0]["status"]["children"] == {}


def test_other_business_task_is_not_found(world, fake_engine):
    task = create(world)
    with pytest.raises(NotFound, match=rf"task\[id={task.pk}\] of business\[bk_biz_id=1\] does not exist"):
        selectors.get_task(world.biz1, task.pk)


def test_query_task_count_groups_and_whitelist(world, fake_engine):
    a = create(world, name="alpha")
    create(world, name="beta", flow_type="common_func")
    create(world, 30, name="other business")
    services.start_task(task=a, executor="alice")
    data = selectors.task_count(world.biz2, "flow_type", {"is_started": True})
    assert data == {"total": 1, "groups": [{"code": "common", "name": "默认任务流程", "value": 1},
                                           {"code": "common_func", "name": "职能化任务流程", "value": 0}]}
    status = selectors.task_count(world.biz2, "status", {})
    assert [(g["code"], g["name"], g["value"]) for g in status["groups"]] == [
        ("CREATED", "未执行", 1), ("EXECUTING", "执行中", 1), ("FINISHED", "已完成", 0)]
    cats = selectors.task_count(world.biz2, "category", {"name": "alpha"})
    assert len(cats["groups"]) == 7 and cats["total"] == 1 and cats["groups"][0]["name"] == "运维工具"
    methods = selectors.task_count(world.biz2, "create_method", {"creator": "alice", "template_id": "10"})
    assert [g["code"] for g in methods["groups"]][:2] == ["app", "api"] and methods["total"] == 2
    later = (timezone.now() + dt.timedelta(days=1)).astimezone(world.biz2.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    assert selectors.task_count(world.biz2, "status", {"create_time__gte": later})["total"] == 0
    assert selectors.task_count(world.biz2, "status", {"create_time__lte": later, "type": "x",
                                                       "executor": ""})["total"] == 2
    for bad in ({"business_id": 1}, {"business__bk_biz_id": 1}, {"name__regex": ".*"}, {"is_started": "maybe"},
                {"create_time__lte": "yesterday"}, {"template__business": 1}):
        with pytest.raises(BadRequest, match=r"have invalid key or value"):
            selectors.task_count(world.biz2, "status", bad)
    with pytest.raises(BadRequest, match=r"query_task_list params group_by\[x\] is invalid"):
        selectors.task_count(world.biz2, "x", {})
    with pytest.raises(BadRequest, match="are invalid dict data"):
        selectors.task_count(world.biz2, "status", [1])


def test_query_task_count_is_one_query(world, fake_engine, django_assert_num_queries):
    create(world)
    with django_assert_num_queries(1):
        selectors.task_count(world.biz2, "category", {"is_started": False})


def test_run_end_is_mirrored(world, fake_engine):
    task = create(world)
    services.start_task(task=task, executor="alice")
    task.refresh_from_db()
    services.record_run_end(run_id=task.run_id, state="FAILED", meta={"task_id": task.pk})
    task.refresh_from_db()
    assert not task.is_finished
    services.record_run_end(run_id=task.run_id, state="REVOKED", meta={"task_id": task.pk})
    task.refresh_from_db()
    assert task.is_finished and task.is_revoked and task.finish_time
