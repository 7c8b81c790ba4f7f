"""fast_create_task through the HTTP API: a one-off task from the caller's tree, validated as a template
(subprocesses included); roles, other businesses, bad input."""
from __future__ import annotations

import json

import pytest

from tasks_app.models import TaskInstance
from tests.support import task_trees as trees

pytestmark = pytest.mark.django_db

CREDS = {"app_code": "app_code", "app_secret": "app_secret"}


def call(client, body: dict, biz: int = 2, token: str = "access_token") -> dict:
    response = client.post(f"/apigw/fast_create_task/{biz}/", json.dumps({**CREDS, "access_token": token, **body}),
                           content_type="application/json")
    assert response.status_code == 200
    return response.json()


def refused(answer: dict, code: int = 3540000) -> str:
    assert answer["result"] is False and answer["code"] == code and answer["data"] is None, answer
    return answer["message"]


def test_creates_a_onetime_task_with_fresh_ids(client, world):
    tree = trees.timer_then_pause("0")
    answer = call(client, {"name": "one <off> & 'done'", "pipeline_tree": tree, "category": "OpsTools",
                           "description": "d", "flow_type": "whatever"})
    assert answer["result"] is True, answer
    data = answer["data"]
    task = TaskInstance.objects.get(pk=data["task_id"])
    assert (task.name, task.template_id, task.template_source, task.category, task.flow_type, task.creator,
            task.description) == ("one off  done", None, "onetime", "OpsTools", "common", "alice", "d")
    assert data["task_url"].endswith(f"instance_id={task.pk}") and not task.is_started
    assert set(data["pipeline_tree"]["activities"]).isdisjoint(tree["activities"])  # ids regenerated
    assert {a["name"] for a in data["pipeline_tree"]["activities"].values()} == {"定时", "暂停"}


def test_defaults_and_an_unknown_category(client, world):
    tree = trees.two_timers("0")
    for key in ("gateways", "constants", "outputs"):
        tree.pop(key)
    tree["activities"]["t1"]["name"] = "n" * 80
    data = call(client, {"name": "x", "pipeline_tree": tree, "category": "Nope", "flow_type": "common_func"})["data"]
    task = TaskInstance.objects.get(pk=data["task_id"])
    assert task.category == "Default" and task.flow_type == "common_func" and task.current_flow == "func_claim"
    assert max(len(a["name"]) for a in data["pipeline_tree"]["activities"].values()) == 50


def test_subprocesses_of_this_business_are_unfolded(client, world):
    data = call(client, {"name": "x", "pipeline_tree": trees.subprocess_of(10)})["data"]
    (sub,) = data["pipeline_tree"]["activities"].values()
    assert sub["type"] == "SubProcess" and len(sub["pipeline"]["activities"]) == 2


def test_subprocesses_must_all_be_of_the_kind_declared(client, world):
    # template 30 is business 1's, 40 is common: neither is a template of business 2
    for template_id in (30, 40):
        message = refused(call(client, {"name": "x", "pipeline_tree": trees.subprocess_of(template_id)}))
        assert message == (f"[API] fast_create_task get invalid template_id: {template_id}, template_id should "
                           "belong to current project.")
    data = call(client, {"name": "x", "pipeline_tree": trees.subprocess_of(40), "has_common_subprocess": True})
    assert data["result"] is True, data
    message = refused(call(client, {"name": "x", "pipeline_tree": trees.subprocess_of(10),
                                    "has_common_subprocess": True}))
    assert message.endswith("10, template_id should belong to common templates.")
    assert TaskInstance.objects.count() == 1


def test_an_invalid_tree_is_refused_with_the_rule(client, world):
    tree = trees.timer_then_pause("0")
    tree["activities"]["timer"]["component"]["code"] = "no_such_component"
    message = refused(call(client, {"name": "x", "pipeline_tree": tree}))
    assert message.startswith("[API] fast_create_task get invalid pipeline_tree: ") and "no_such_component" in message
    tree = trees.timer_then_pause("0")
    tree["flows"].clear()
    assert refused(call(client, {"name": "x", "pipeline_tree": tree})).startswith(
        "[API] fast_create_task get invalid pipeline_tree: ")
    assert TaskInstance.objects.count() == 0


@pytest.mark.parametrize(("body", "expected"), [
    ({"pipeline_tree": {}}, "invalid params: name is required (a string)"),
    ({"name": "x"}, "invalid params: pipeline_tree is required (a JSON object)"),
    ({"name": "x", "pipeline_tree": [1]}, "invalid params: pipeline_tree is required (a JSON object)"),
    ({"name": "<>$&", "pipeline_tree": {}}, "invalid params: name must hold at least one character other than "
                                             "<>$&'\""),
    ({"name": "x", "pipeline_tree": {}, "has_common_subprocess": "perhaps"}, None),
])
def test_bad_input(client, world, body, expected):
    message = refused(call(client, body))
    assert message == expected if expected else "has_common_subprocess" in message


def test_a_viewer_and_a_stranger_are_refused(client, world):
    body = {"name": "x", "pipeline_tree": trees.two_timers("0")}
    assert refused(call(client, body, token="viewer_token"), 3540100)
    assert refused(call(client, body, token="olga_token"), 3540100)  # olga is not in business 2
    assert TaskInstance.objects.count() == 0


def test_a_subprocess_of_another_business_is_refused_for_a_member_of_both(client, world):
    # alice operates business 1 and 2; from business 1 she still cannot use business 2's template 10
    message = refused(call(client, {"name": "x", "pipeline_tree": trees.subprocess_of(10)}, biz=1))
    assert message.startswith("[API] fast_create_task get invalid template_id: 10,")
