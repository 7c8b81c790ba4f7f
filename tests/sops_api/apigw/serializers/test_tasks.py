"""The task endpoints' inputs: what each reads, its defaults, and the messages the original gave kept."""
from __future__ import annotations

import pytest

from sops_api.apigw.serializers import tasks
from sops_common.errors import InvalidInput


def refused(serializer, **params) -> str:
    with pytest.raises(InvalidInput) as caught:
        serializer.parse(params)
    return caught.value.message


def test_create_task_defaults_and_json_text():
    assert tasks.CreateTaskInput.parse({"name": "t"}) == {
        "template_source": "business", "name": "t", "flow_type": "common", "constants": {},
        "exclude_task_nodes_id": [], "description": "", "callback_version": "", "execute_task_nodes_id": [],
        "template_schemes_id": [], "simplify_vars": []}
    given = tasks.CreateTaskInput.parse({"name": "t", "template_source": "project", "constants": '{"${a}": 1}',
                                         "exclude_task_nodes_id": '["n1"]', "request_id": 7})
    assert given["template_source"] == "business" and given["constants"] == {"${a}": 1}
    assert given["exclude_task_nodes_id"] == ["n1"] and given["request_id"] == "7"


@pytest.mark.parametrize(("params", "message"), [
    ({}, "task params is invalid: name must be a string of 1 to 100 characters"),
    ({"name": "   "}, "task params is invalid: name must be a string of 1 to 100 characters"),
    ({"name": "x" * 101}, "task params is invalid: name must be a string of 1 to 100 characters"),
    ({"name": "t", "flow_type": "other"}, "task params is invalid: flow_type must be one of common, common_func"),
    ({"name": "t", "constants": "[1]"}, "constants must be a dict"),
    ({"name": "t", "exclude_task_nodes_id": [1]},
     "task params is invalid: exclude_task_nodes_id must be a list of node ids"),
    ({"name": "t", "template_source": "elsewhere"}, "template_source must be business or common, not 'elsewhere'"),
])
def test_create_task_refusals(params, message):
    assert refused(tasks.CreateTaskInput, **params) == message


def test_operate_task_keeps_the_original_message():
    assert tasks.OperateTaskInput.parse({"action": "revoke"}) == {"action": "revoke"}
    assert refused(tasks.OperateTaskInput, action="explode") == "task action is invalid"
    assert refused(tasks.OperateTaskInput) == "task action is invalid"


def test_node_detail_reads_act_id_as_node_id_and_the_stack_as_json():
    assert tasks.TaskNodeDetailInput.parse({"act_id": "n1", "subprocess_stack": '["s1"]'}) == {
        "node_id": "n1", "component_code": "", "subprocess_stack": ["s1"]}
    assert tasks.TaskNodeDetailInput.parse({"node_id": "n2", "act_id": "n1"})["node_id"] == "n2"
    assert refused(tasks.TaskNodeDetailInput, subprocess_stack="[x") == "subprocess_stack is not a valid array json"
    assert refused(tasks.TaskNodeDetailInput) == "node_id is required"


def test_query_task_count_keeps_the_original_messages():
    assert tasks.QueryTaskCountInput.parse({"group_by": "status", "conditions": '{"is_started": true}'}) == {
        "group_by": "status", "conditions": {"is_started": True}}
    assert refused(tasks.QueryTaskCountInput, group_by="x") == "query_task_list params group_by[x] is invalid"
    assert refused(tasks.QueryTaskCountInput, group_by="status", conditions="[1]") == \
        "query_task_list params conditions[[1]] are invalid dict data"


def test_node_callback_needs_a_node_id():
    assert tasks.NodeCallbackInput.parse({"node_id": "n"}) == {"node_id": "n", "callback_data": None}
    assert refused(tasks.NodeCallbackInput, callback_data={}) == "node_id is required"
    assert refused(tasks.NodeCallbackInput, node_id="") == "node_id may not be blank"


def test_operate_node_keeps_the_original_messages():
    assert refused(tasks.OperateNodeInput, action="retry") == "node_id is required"
    assert refused(tasks.OperateNodeInput, action="rerun", node_id="n").startswith("node action[rerun] is invalid")
    assert refused(tasks.OperateNodeInput, action="retry", node_id="n", inputs=[1]) == \
        "inputs field is not a valid object"
    assert refused(tasks.OperateNodeInput, action="callback", node_id="n", data="x") == \
        "data field is not a valid object"


def test_task_list_limits():
    given = tasks.TaskListInput.parse({"limit": "5", "is_started": "false", "template_id": "3"})
    assert given["limit"] == 5 and given["is_started"] is False and given["is_finished"] is None
    assert given["template_id"] == 3 and given["offset"] == 0
    assert refused(tasks.TaskListInput, limit=201) == "limit[201] must be at most 200"
    assert refused(tasks.TaskListInput, offset=-1) == "offset[-1] must be at least 0"
    assert refused(tasks.TaskListInput, offset=10**9 + 1) == "offset[1000000001] must be at most 1000000000"
    assert refused(tasks.TaskListInput, state="LOST").startswith("state must be one of CREATED")


def test_tasks_status_list_limits():
    assert tasks.TasksStatusInput.parse({"task_id_list": "[1, 2]"})["task_id_list"] == [1, 2]
    assert refused(tasks.TasksStatusInput, task_id_list=[]) == "task_id_list must be a non-empty list"
    assert refused(tasks.TasksStatusInput, task_id_list=list(range(51))) == "task_id_list holds at most 50 ids"
    assert refused(tasks.TasksStatusInput, task_id_list=[1, "x"]) == "task_id_list item[x] must be an integer"
