"""Every example request of spec/apigw.md for the task endpoints, replayed against a live server with a
real Celery worker: the HTTP example and the ESB SDK example, each answer compared in shape with the
documented example response.

The examples' ids are placeholders (task 10, template 30, node ids of some other task): each replay
keeps the example's request exactly but with the ids of the fixture's tasks and nodes.
"""
from __future__ import annotations

import json

import pytest

from tasks_app.models import TaskInstance
from tests.conftest import wait_for
from tests.support.contract import documented_response, shape_errors
from tests.support.live_http import Http, child_state, node_id_of, ok, sdk, wait_status

pytestmark = [pytest.mark.worker]

# The spec's HTTP examples send these literal placeholder credentials.
SPEC_CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
EXAMPLE_CONSTANTS = {"${content}": "echo 1", "${params}": "", "${script_timeout}": 20}


@pytest.fixture
def env(live_server, live_world, celery_worker_proc):
    class Env:
        world = live_world
        http = Http(live_server.url, SPEC_CREDS)
        client = sdk(live_server.url, SPEC_CREDS)

        def create(self, template_id=10, biz=2, **kwargs):
            body = {"name": "tasktest", "flow_type": "common", **kwargs}
            return ok(self.http.post(f"create_task/{template_id}/{biz}/", body))

        def started(self, template_id=10, biz=2, **kwargs):
            data = self.create(template_id, biz, **kwargs)
            ok(self.http.post(f"start_task/{data['task_id']}/{biz}/"))
            return data
    return Env()


def assert_shape(endpoint: str, answer: dict, loose: set[str] = frozenset()) -> None:
    errors = shape_errors(answer, documented_response(endpoint), loose=set(loose))
    assert not errors, "\n".join(errors)


def test_create_task_http_and_sdk_examples(env):
    http_answer = env.http.post("create_task/10/2/", {"name": "tasktest", "flow_type": "common",
                                                      "constants": EXAMPLE_CONSTANTS})
    assert_shape("create_task", http_answer, loose={"location"})
    data = ok(http_answer)
    assert data["task_url"].endswith(f"taskflow/execute/2/?instance_id={data['task_id']}")
    assert all(len(i) == 32 and i.startswith("node") for i in data["pipeline_tree"]["activities"])
    sdk_answer = env.client.api.create_task({"name": "tasktest", "flow_type": "common",
                                             "constants": EXAMPLE_CONSTANTS},
                                            {"bk_biz_id": "1", "template_id": "30"})
    assert_shape("create_task", sdk_answer, loose={"location"})
    # the example's constants are not the template's: they are ignored, the template's value stays
    assert ok(sdk_answer)["pipeline_tree"]["constants"]["${bk_timing}"]["value"] == "1"


def test_start_task_http_and_sdk_examples(env):
    first, second = env.create(), env.create()
    answer = env.http.post(f"start_task/{first['task_id']}/2/")
    assert_shape("start_task", answer)
    assert answer["data"] == "success"
    assert_shape("start_task", env.client.api.start_task({}, {"bk_biz_id": "2", "task_id": str(second["task_id"])}))
    again = env.http.post(f"start_task/{first['task_id']}/2/")
    assert again["result"] is False and again["message"] == "task already started" and again["code"] == 3545000


def test_operate_task_http_and_sdk_examples(env):
    first, second = env.create(), env.create()
    answer = env.http.post(f"operate_task/{first['task_id']}/2/", {"action": "start"})
    assert_shape("operate_task", answer)
    assert_shape("operate_task", env.client.api.operate_task(
        {"action": "start"}, {"bk_biz_id": "2", "task_id": str(second["task_id"])}))
    wrong = env.http.post(f"operate_task/{first['task_id']}/2/", {"action": "explode"})
    assert wrong["result"] is False and wrong["message"] == "task action is invalid"


def test_get_task_status_http_and_sdk_examples(env):
    not_started = env.create()
    assert ok(env.http.get(f"get_task_status/{not_started['task_id']}/2/")) == {
        "start_time": None, "state": "CREATED", "retry": 0, "skip": 0, "finish_time": None,
        "elapsed_time": 0, "children": {}}
    task = env.started()
    timer = node_id_of(task["pipeline_tree"], "sleep_timer")
    wait_status(env.http, task["task_id"], lambda d: child_state(d, timer) is not None)
    answer = env.http.get(f"get_task_status/{task['task_id']}/2/")
    assert_shape("get_task_status", answer)
    data = ok(answer)
    assert data["name"] == "tasktest" and data["children"][timer]["name"] == "定时"
    sdk_answer = env.client.api.get_task_status({}, {"bk_biz_id": "2", "task_id": str(task["task_id"])})
    assert_shape("get_task_status", sdk_answer)


def test_get_task_detail_http_and_sdk_examples(env):
    task = env.started()
    pause = node_id_of(task["pipeline_tree"], "pause_node")
    wait_status(env.http, task["task_id"], lambda d: child_state(d, pause) == "RUNNING")
    ok(env.http.post(f"node_callback/{task['task_id']}/2/", {"node_id": pause, "callback_data": {"k": "v"}}))
    wait_status(env.http, task["task_id"], lambda d: d["state"] == "FINISHED")
    # template_id: the example shows "266" (a string) but its own field table says int, as the original does.
    answer = env.http.get(f"get_task_detail/{task['task_id']}/2/")
    assert_shape("get_task_detail", answer, loose={"constants", "value", "template_id"})
    data = ok(answer)
    assert data["business_id"] == 2 and data["template_id"] == 10 and data["create_method"] == "api"
    assert data["outputs"] == [{"key": "${cb}", "value": {"k": "v"}, "name": "回调数据"}]
    sdk_answer = env.client.api.get_task_detail({}, {"bk_biz_id": "2", "task_id": str(task["task_id"])})
    assert_shape("get_task_detail", sdk_answer, loose={"constants", "value", "template_id"})


def test_get_task_node_detail_http_and_sdk_examples(env):
    # The example reads a node inside a subprocess (subprocess_stack): template 15 wraps common template 40.
    from tests.support import task_trees as trees
    from tests.support.task_world import make_template

    b = trees.TreeBuilder()
    b.act({"id": "sub", "type": "SubProcess", "name": "child", "template_id": 40, "template_source": "common",
           "incoming": "", "outgoing": "", "constants": {}})
    b.chain("start", "sub", "end")
    make_template(15, "wrapper", b.build(), env.world.biz2)
    task = env.started(15)
    (sub_id, sub), = task["pipeline_tree"]["activities"].items()
    timer = node_id_of(sub["pipeline"], "sleep_timer")
    pause = node_id_of(sub["pipeline"], "pause_node")
    wait_status(env.http, task["task_id"],
                lambda d: (d["children"].get(sub_id) or {}).get("children", {}).get(pause, {}).get("state")
                == "RUNNING")
    kwargs = {"bk_biz_id": "2", "task_id": str(task["task_id"]), "node_id": timer,
              "subprocess_stack": json.dumps([sub_id]), "component_code": "sleep_timer"}
    answer = env.http.get(f"get_task_node_detail/{task['task_id']}/2/", kwargs)
    assert_shape("get_task_node_detail", answer, loose={"inputs", "value", "ex_data"})
    data = ok(answer)
    assert data["state"] == "FINISHED" and data["id"] == timer and data["name"] == "定时"
    assert data["inputs"]["bk_timing"] == "0"
    sdk_answer = env.client.api.get_task_node_detail(
        {"node_id": pause, "subprocess_stack": json.dumps([sub_id]), "component_code": "pause_node"},
        {"bk_biz_id": "2", "task_id": str(task["task_id"])})
    assert_shape("get_task_node_detail", sdk_answer, loose={"inputs", "value", "ex_data"})
    assert ok(sdk_answer)["state"] == "RUNNING"
    bad = env.http.get(f"get_task_node_detail/{task['task_id']}/2/", {"node_id": timer, "subprocess_stack": "[x"})
    assert bad["message"] == "subprocess_stack is not a valid array json"
    missing = env.http.get(f"get_task_node_detail/{task['task_id']}/2/", {"node_id": "node" + "0" * 28})
    assert missing["message"] == f"node[node_id={'node' + '0' * 28}] not found in task[task_id={task['task_id']}]"


def test_query_task_count_http_and_sdk_examples(env):
    env.started()
    env.create(flow_type="common_func")
    kwargs = {"conditions": {"create_time__lte": "2999-07-12 10:00:00", "is_started": True}, "group_by": "flow_type"}
    answer = env.http.post("query_task_count/2/", kwargs)
    assert_shape("query_task_count", answer)
    assert ok(answer) == {"total": 1, "groups": [{"code": "common", "name": "默认任务流程", "value": 1},
                                                 {"code": "common_func", "name": "职能化任务流程", "value": 0}]}
    # The example's own date (2018) selects nothing today; the answer keeps its shape.
    spec_kwargs = {"conditions": {"create_time__lte": "2018-07-12 10:00:00", "is_started": True},
                   "group_by": "flow_type"}
    sdk_answer = env.client.api.query_task_count(spec_kwargs, {"bk_biz_id": "2"})
    assert_shape("query_task_count", sdk_answer)
    assert ok(sdk_answer)["total"] == 0


def test_node_callback_http_and_sdk_examples(env):
    tasks = [env.started(), env.started()]
    pauses = [node_id_of(t["pipeline_tree"], "pause_node") for t in tasks]
    for task, pause in zip(tasks, pauses, strict=True):
        wait_status(env.http, task["task_id"], lambda d, p=pause: child_state(d, p) == "RUNNING")
    # The HTTP example: requests.get(url, json.dumps(kwargs)), a GET whose query string is JSON.
    answer = env.http.get_json(f"node_callback/{tasks[0]['task_id']}/2/",
                               {"node_id": pauses[0], "callback_data": {"data": "data"}})
    assert_shape("node_callback", answer)
    assert answer["message"] == "success"
    sdk_answer = env.client.api.node_callback({"node_id": pauses[1], "callback_data": {"data": "data"}},
                                              {"bk_biz_id": "2", "task_id": str(tasks[1]["task_id"])})
    assert_shape("node_callback", sdk_answer)
    for task in tasks:
        wait_status(env.http, task["task_id"], lambda d: d["state"] == "FINISHED")
    unknown = env.http.post(f"node_callback/{tasks[0]['task_id']}/2/", {"node_id": "node76393dcfedcf73dbc726f1c4786d",
                                                                       "callback_data": {}})
    assert unknown["result"] is False
    assert unknown["message"] == f"task[{tasks[0]['task_id']}] does not have node[node76393dcfedcf73dbc726f1c4786d]"
    finished = env.http.post(f"node_callback/{tasks[0]['task_id']}/2/", {"node_id": pauses[0], "callback_data": {}})
    assert finished["result"] is False
    wait_for(lambda: TaskInstance.objects.get(pk=tasks[0]["task_id"]).is_finished,
             message="run_finished mirrored on the task")
