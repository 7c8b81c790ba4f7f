"""The spec's sleep_timer -> pause_node example (demo template 1), from creation through node_callback to
FINISHED, through the typed layer and through the spec-style operations."""
from __future__ import annotations

import pytest

from sops_sdk import InvalidOperationError, NotFoundError, TaskStatus, WaitTimeout
from sops_sdk.waiting import poll_status


def wait_node_running(client, task_id, node_id: str) -> TaskStatus:
    """The task's status once `node_id` is RUNNING (the pause node waiting for its callback)."""
    def node() -> TaskStatus:
        status = client.tasks.status(task_id=task_id, bk_biz_id=2)
        return status.find(node_id) or TaskStatus(id=node_id, state="NOT REACHED")
    poll_status(node, timeout=30, until={"RUNNING"}, first_interval=0.1)
    return client.tasks.status(task_id=task_id, bk_biz_id=2)


def test_timer_then_pause_then_callback_finishes(client):
    created = client.tasks.create(template_id=1, bk_biz_id=2, name="sdk timer -> pause",
                                  constants={"${bk_timing}": "1"})
    timer = created.node_id(component_code="sleep_timer")
    pause = created.node_id(component_code="pause_node")
    assert created.task_url and created.pipeline_tree["constants"]["${bk_timing}"]["value"] == "1"
    assert client.tasks.status(task_id=created.task_id, bk_biz_id=2).state == "CREATED"

    client.tasks.start(task_id=created.task_id, bk_biz_id=2)
    status = wait_node_running(client, created.task_id, pause)
    assert status.state == "RUNNING" and status.find(timer).state == "FINISHED"
    # The pause node waits for its callback: the task is RUNNING, it does not stop by itself.
    with pytest.raises(WaitTimeout) as waited:
        client.wait_for_task(created.task_id, 2, timeout=1.5)
    assert waited.value.last_status.state == "RUNNING"

    timer_detail = client.nodes.detail(task_id=created.task_id, bk_biz_id=2, node_id=timer)
    assert timer_detail.state == "FINISHED" and timer_detail.inputs["bk_timing"] == "1"
    assert timer_detail.component_code == "sleep_timer"

    client.nodes.callback(task_id=created.task_id, bk_biz_id=2, node_id=pause, callback_data={"data": "data"})
    final = client.wait_for_task(created.task_id, 2, timeout=30)
    assert final.state == "FINISHED" and final.finish_time is not None
    assert final.find(pause).state == "FINISHED"
    detail = client.tasks.detail(task_id=created.task_id, bk_biz_id=2)
    assert detail.finish_time is not None and detail.template_id == 1

    # A finished task takes no second callback, and a node that is not in the task is named as such.
    with pytest.raises(InvalidOperationError):
        client.nodes.callback(task_id=created.task_id, bk_biz_id=2, node_id=pause, callback_data={})
    with pytest.raises(NotFoundError):
        client.nodes.detail(task_id=created.task_id, bk_biz_id=2, node_id="node" + "0" * 28)


def test_the_same_flow_with_the_spec_style_calls(client):
    path = {"bk_biz_id": "2"}
    created = client.api.create_task({"name": "sdk timer -> pause (api)", "constants": {"${bk_timing}": "1"}},
                                     {**path, "template_id": "1"})
    assert created["result"] is True, created
    task_id = str(created["data"]["task_id"])
    pause = next(node_id for node_id, activity in created["data"]["pipeline_tree"]["activities"].items()
                 if activity["component"]["code"] == "pause_node")
    assert client.api.start_task({}, {**path, "task_id": task_id})["result"] is True

    wait_node_running(client, task_id, pause)
    answer = client.api.node_callback({"node_id": pause, "callback_data": {"data": "data"}},
                                      {**path, "task_id": task_id})
    assert answer == {"result": True, "data": None, "message": "success", "code": 0}
    assert client.wait_for_task(task_id, 2, timeout=30).state == "FINISHED"
