"""Node actions from the pages against a live worker: forced fail, skip, callback with data, skip a branch.

Posted the way the page's script posts them (form fields, JSON answer) through Django's test
client; the worker runs the tasks, and the page's own status poll says what happened.
"""
from __future__ import annotations

import pytest
from django.test import Client

from tasks_app import selectors, services
from tasks_app.models import CreateMethod, TaskOperation
from templates_app.services import create_template
from tests.conftest import wait_for
from tests.support import task_trees

from .conftest import PASSWORD

pytestmark = [pytest.mark.worker]


@pytest.fixture
def olivia(live_people, celery_worker_proc) -> Client:
    client = Client()
    assert client.login(username="olivia", password=PASSWORD)
    return client


def start(people, tree: dict, **constants: str):
    template = create_template(name="live", pipeline_tree=tree, creator="olivia", business=people.biz2)
    task = services.create_task(business=people.biz2, template=template, name="live", creator="olivia",
                                create_method=CreateMethod.APP, constants={f"${{{k}}}": v for k, v in constants.items()})
    services.start_task(task=task, executor="olivia", source="app")
    return task


def key_of(task, name: str) -> str:
    nodes = {**task.pipeline_tree["activities"], **task.pipeline_tree["gateways"]}
    return next(i for i, n in nodes.items() if n.get("name") == name)


def poll_until(client: Client, task, predicate, message: str) -> dict:
    def probe():
        data = client.get(f"/tasks/{task.pk}/status/").json()
        return data if predicate(data) else None
    return wait_for(probe, timeout=40, interval=0.2, message=message)


def act(client: Client, task, **fields) -> dict:
    return client.post(f"/tasks/{task.pk}/action/", fields, HTTP_ACCEPT="application/json").json()


def test_force_a_running_node_to_fail_then_skip_it(live_people, olivia):
    task = start(live_people, task_trees.timer_then_pause("60"))
    timer, pause = key_of(task, "定时"), key_of(task, "暂停")
    poll_until(olivia, task, lambda d: d["nodes"].get(timer) == "RUNNING", "the timer to run")
    assert act(olivia, task, action="skip", node=timer) == {
        "ok": False, "message": f"node({timer}) state is RUNNING, can not skip"}
    assert act(olivia, task, action="forced_fail", node=timer)["ok"] is True
    poll_until(olivia, task, lambda d: d["nodes"].get(timer) == "FAILED" and d["state"] == "FAILED", "forced fail")
    panel = olivia.get(f"/tasks/{task.pk}/node/", {"key": timer}).content.decode()
    assert "terminated by olivia" in panel and 'data-node-action="skip"' in panel
    assert act(olivia, task, action="skip", node=timer)["ok"] is True
    data = poll_until(olivia, task, lambda d: d["nodes"].get(pause) == "RUNNING", "the pause node after the skip")
    assert data["nodes"][timer] == "SKIPPED"

    # the pause node waits for a callback: the panel offers it, and its data becomes the task's output
    panel = olivia.get(f"/tasks/{task.pk}/node/", {"key": pause}).content.decode()
    assert 'data-node-action="callback"' in panel and 'data-node-action="forced_fail"' in panel
    assert act(olivia, task, action="callback", node=pause, data='{"answer": 42}')["ok"] is True
    done = poll_until(olivia, task, lambda d: d["ended"], "the task to finish")
    assert done["state"] == "FINISHED" and done["actions"] == []
    detail = selectors.task_detail(selectors.get_task_by_id(task.pk))
    assert detail["outputs"] == [{"key": "${cb}", "value": {"answer": 42}, "name": "回调数据"}], detail
    # every action of the page is in the task's audit log, as the pages' ("app"); the refused skip is not
    logged = list(TaskOperation.objects.filter(task=task).values_list("operate_type", "operate_source", "operator",
                                                                      "node_id"))
    assert logged == [("create", "app", "olivia", ""), ("start", "app", "olivia", ""),
                      ("forced_fail", "app", "olivia", timer), ("skip", "app", "olivia", timer),
                      ("callback", "app", "olivia", pause)]
    assert TaskOperation.objects.get(task=task, operate_type="callback").extra_info == {"data": {"answer": 42}}


def test_skip_an_exclusive_gateway_to_a_chosen_branch(live_people, olivia):
    task = start(live_people, task_trees.exclusive_on_x(), x="3")  # no branch matches: the gateway fails
    gateway = key_of(task, "eg")
    poll_until(olivia, task, lambda d: d["nodes"].get(gateway) == "FAILED", "the gateway to fail")
    panel = olivia.get(f"/tasks/{task.pk}/node/", {"key": gateway}).content.decode()
    assert 'data-node-action="skip_exg"' in panel and "x is 2 → b" in panel
    tree = task.pipeline_tree
    to_b = next(f for f in tree["gateways"][gateway]["outgoing"] if tree["flows"][f]["target"] == key_of(task, "b"))
    assert act(olivia, task, action="skip_exg", node=gateway, flow_id="nope")["message"] == (
        f"flow(nope) is not an outgoing flow of node({gateway})")
    assert act(olivia, task, action="skip_exg", node=gateway, flow_id=to_b)["ok"] is True
    done = poll_until(olivia, task, lambda d: d["ended"], "the task to finish")
    assert done["nodes"][key_of(task, "b")] == "FINISHED" and key_of(task, "a") not in done["nodes"]
    assert done["nodes"][gateway] == "SKIPPED"
