"""Inputs and outputs of the task endpoints (tasks.py): create, start, operate, read, count, call back."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from sops_common import limits
from sops_common.errors import InvalidInput
from tasks_app import selectors, services
from tasks_app.callbacks import CALLBACK_V2
from tasks_app.models import TASK_NAME_MAX_LENGTH, CreateMethod, CurrentFlow, FlowType, TaskStatus
from tasks_app.services import NODE_ACTIONS, TASK_ACTIONS
from templates_app.schemes import parse_scheme_ids

from .base import Input
from .common import NODE_ID_EXAMPLE, Constant, PipelineTree
from .fields import AnyValue, Boolean, Choice, Integer, List, Object, Parsed, String, Time
from .templates import template_source

NAME_ERROR = f"task params is invalid: name must be a string of 1 to {TASK_NAME_MAX_LENGTH} characters"
CONSTANTS_HELP = ('{"${key}": value}: values of the template\'s global variables; keys the task does not use are '
                  "ignored, and each value keeps the type the template's variable has")


def _task_name(value: Any) -> str:
    return services.validate_name(value)


def _request_id(value: Any) -> str:
    """A string of 1 to 128 characters, or an integer (read as its digits); "" counts as none."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not 1 <= len(str(value)) <= 128:
        raise InvalidInput("request_id must be a string of 1 to 128 characters")
    return str(value)


def exclude_task_nodes_id() -> List:
    return List(child=String(allow_blank=False, strict=True), default=list, example=["nodea5c396a3ef0f9f3cd7d4d7695f78"],
                error="task params is invalid: exclude_task_nodes_id must be a list of node ids",
                help_text="template node ids to leave out; each must be optional")


# --- inputs --------------------------------------------------------------------------------------------

class CreateTaskInput(Input):
    template_source = template_source()
    name = String(allow_blank=False, max_length=TASK_NAME_MAX_LENGTH, validators=[_task_name], error=NAME_ERROR,
                  example="tasktest", help_text="task name (not only spaces)")
    flow_type = Choice(FlowType.choices, default=FlowType.COMMON, example=FlowType.COMMON,
                       error=f"task params is invalid: flow_type must be one of {', '.join(FlowType.values)}",
                       help_text="common: runs when started; common_func: waits to be claimed "
                                 "(claim_functionalization_task) before it can start")
    constants = Object(default=dict, help_text=CONSTANTS_HELP,
                       example={"${content}": "echo 1", "${params}": "", "${script_timeout}": 20})
    exclude_task_nodes_id = exclude_task_nodes_id()
    description = String(default="", example="", help_text="the task's description")
    callback_url = String(required=False, allow_null=True, max_length=1024, example="http://127.0.0.1:9000/hook",
                          help_text="POSTed to (task_id, task_success) when the task finishes, is revoked, and "
                                    "each time a node fails; http(s), internal addresses only where "
                                    "SOPS_HTTP_ALLOWLIST opens them")
    callback_version = Choice([CALLBACK_V2], required=False, default="", example="v2",
                              error='callback_version must be "v2" or absent',
                              help_text='absent: callback_url gets a form (task_id, task_success=True or False); '
                                        '"v2": a JSON body {task_id, task_success, callback_version, task_outputs}')
    execute_task_nodes_id = List(child=String(allow_blank=False, strict=True), default=list,
                                 example=["nodea5c396a3ef0f9f3cd7d4d7695f78"],
                                 error="task params is invalid: execute_task_nodes_id must be a list of node ids",
                                 help_text="template node ids to run; every other (optional) node is left out. "
                                           "Wins over exclude_task_nodes_id. Unknown ids are ignored; leaving out "
                                           "a mandatory node is refused (3540000, naming the nodes)")
    template_schemes_id = Parsed(parse_scheme_ids, required=False, default=list, example=[1],
                                 schema={"oneOf": [
                                     {"type": "integer"}, {"type": "string"},
                                     {"type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}}]},
                                 help_text="execution schemes of the template (get_template_schemes: its id, or the "
                                           "scheme's integer pk): the union of their nodes runs, optional nodes "
                                           "outside it are left out, mandatory ones always run. Not with "
                                           "exclude_task_nodes_id or execute_task_nodes_id")
    simplify_vars = List(child=String(allow_blank=False, strict=True), default=list, example=["${content}"],
                         error="task params is invalid: simplify_vars must be a list of variable keys",
                         help_text="custom variables to turn into plain text variables (textarea), so their "
                                   "values are given as text; other kinds are left as they are")
    request_id = Parsed(_request_id, required=False, allow_null=True, example="9f1c0d0e-order-42",
                        schema={"oneOf": [{"type": "string", "maxLength": 128}, {"type": "integer"}]},
                        help_text="idempotency key: a second create with the same app, business and request_id "
                                  "answers the first task instead of creating another")


class OperateTaskInput(Input):
    action = Choice(TASK_ACTIONS, error="task action is invalid", example="pause",
                    help_text="start (= start_task), pause (a running task), resume (a paused task), revoke")


def _node_id_help(what: str) -> str:
    return f"the node's id in the task's pipeline_tree ({what})"


class TaskNodeDetailInput(Input):
    node_id = String(required=False, example=NODE_ID_EXAMPLE, help_text=_node_id_help("or give act_id"))
    act_id = String(required=False, example=NODE_ID_EXAMPLE,
                    help_text="the spec's table names node_id so: read when node_id is absent")
    component_code = String(default="", example="sleep_timer",
                            help_text="with it, outputs list the component's declared outputs first "
                                      "(preset: true)")
    subprocess_stack = Parsed(selectors.parse_subprocess_stack, required=False, default=list,
                              example=["nodeaaa0ce51d2143aa9b0dbc27cb7df"],
                              schema={"type": "array", "items": {"type": "string"}},
                              help_text="SubProcess node ids from the root down to the node's parent, as a JSON "
                                        "list (text in a query string)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        node_id = attrs.pop("node_id", "") or attrs.pop("act_id", "")
        attrs.pop("act_id", None)
        if not node_id:
            raise serializers.ValidationError("node_id is required")
        return {**attrs, "node_id": node_id}


CONDITIONS_SCHEMA = {
    "type": "object",
    "description": "filters, each `field` or `field__lookup`: id, template_id (exact, in); name, creator, "
                   "executor (exact, iexact, contains, icontains, startswith, in); category, flow_type, "
                   "create_method, template_source (exact, in); create_time, start_time, finish_time (gte, lte, "
                   "gt, lt; a time, or milliseconds since the epoch); is_started, is_finished, is_revoked "
                   "(true/false, 1/0). Any other key is refused; values are read by these rules, whatever "
                   "their JSON type.",
    "properties": {
        "template_id": {"description": "template the tasks were created from", "example": "1"},
        "name": {"description": "task name", "example": "tasktest"},
        "creator": {"example": "admin"},
        "create_time__gte": {"description": "created at or after", "example": "2018-07-01 00:00:00"},
        "create_time__lte": {"description": "created at or before", "example": "2018-07-12 10:00:00"},
        "executor": {"example": "admin"},
        "start_time__gte": {"example": "2018-07-01 00:00:00"},
        "start_time__lte": {"example": "2018-07-12 10:00:00"},
        "is_started": {"example": True},
        "is_finished": {"example": False},
    },
    "additionalProperties": True,
}


class QueryTaskCountInput(Input):
    group_by = Choice(selectors.GROUP_BY, error="query_task_list params group_by[{value}] is invalid",
                      example="flow_type",
                      help_text="status (created, executing, finished), category, flow_type or create_method")
    conditions = Object(required=False, allow_null=True, default=None, schema=CONDITIONS_SCHEMA,
                        error="query_task_list params conditions[{value}] are invalid dict data",
                        example={"create_time__lte": "2018-07-12 10:00:00", "is_started": True})


class NodeCallbackInput(Input):
    node_id = String(allow_blank=False, example="node76393dcfedcf73dbc726f1c4786d",
                     help_text=_node_id_help("a node waiting for a callback, e.g. pause_node"))
    callback_data = AnyValue(required=False, allow_null=True, default=None, example={"data": "data"},
                             help_text="any JSON value, handed to the waiting component (pause_node copies it "
                                       "into its output callback_data)")
    version = String(required=False, allow_null=True, example="",
                     help_text="the node's execution version (get_task_node_detail): the callback is refused "
                               "when the node has run again since")


class OperateNodeInput(Input):
    action = Choice(NODE_ACTIONS, error=f"node action[{{value}}] is invalid, use one of {', '.join(NODE_ACTIONS)}",
                    example="retry",
                    help_text="retry (a failed node, optionally with new inputs), skip (a failed node), skip_exg "
                              "(a failed exclusive gateway, along flow_id), callback (a waiting node, with data), "
                              "pause_subproc / resume_subproc (a SubProcess node), forced_fail (a running node)")
    node_id = String(allow_blank=False, example=NODE_ID_EXAMPLE, help_text=_node_id_help("of the node to act on"))
    inputs = Object(required=False, allow_null=True, default=None, error="inputs field is not a valid object",
                    example={"bk_timing": "1"}, help_text="retry: the node's new inputs")
    data = Object(required=False, allow_null=True, default=None, error="data field is not a valid object",  # type: ignore[assignment]  # shadows Serializer.data
                  example={"answer": 42}, help_text="callback: the callback data")
    flow_id = String(required=False, allow_null=True, default=None, example="linecf7b7f10c87187a88b72c5f91177",
                     help_text="skip_exg: the outgoing flow of the gateway to take")


LIST_STATES = list(selectors.LIST_STATES)


class TaskListInput(Input):
    keyword = String(default="", example="nightly", help_text="part of the task's name (any case)")
    creator = String(default="", example="admin", help_text="created by this user")
    executor = String(default="", example="admin", help_text="started by this user")
    state = Choice(LIST_STATES, required=False, default="", error=f"state must be one of {', '.join(LIST_STATES)}",
                   example="FINISHED", help_text="CREATED, EXECUTING (= RUNNING), FINISHED or REVOKED")
    is_started = Boolean(required=False, default=None, allow_null=True, example=True, help_text="started or not")
    is_finished = Boolean(required=False, default=None, allow_null=True, example=False,
                          help_text="finished (or revoked) or not")
    template_id = Integer(required=False, default=None, allow_null=True, example=1,
                          help_text="created from this template")
    template_ids = String(default="", example="1,2", help_text="created from one of these templates (comma-separated)")
    is_child_taskflow = Boolean(required=False, default=None, allow_null=True, example=False,
                                help_text="true: child tasks only (sops has none: subprocesses run inside their task)")
    create_method = String(default="", example="api,periodic", help_text="one or several, comma-separated: "
                                                                          + ", ".join(CreateMethod.values))
    create_time_start = String(default="", example="2026-01-01 00:00:00",
                               help_text="created at or after (YYYY-MM-DD[ HH:MM[:SS]][ +zzzz], or ISO 8601)")
    create_time_end = String(default="", example="2026-12-31", help_text="created at or before (a date alone "
                                                                         "means its end)")
    offset = Integer(default=0, min_value=0, max_value=limits.MAX_OFFSET, example=0, help_text="tasks to pass over")
    limit = Integer(default=100, min_value=1, max_value=200, example=100, help_text="tasks to answer at most")
    without_count = Boolean(default=False, example=False, help_text="true: skip counting, count is null")


MAX_STATUS_TASKS = 50


class TasksStatusInput(Input):
    task_id_list = List(child=Integer(error="task_id_list item[{value}] must be an integer"), allow_empty=False,
                        max_length=MAX_STATUS_TASKS, example=[10, 11],
                        error_messages={"empty": "task_id_list must be a non-empty list",
                                        "max_length": "task_id_list holds at most {max_length} ids"},
                        help_text="task ids of the business; ids of other businesses are left out")
    include_children_status = Boolean(default=False, example=False,
                                      help_text="true: each status carries its node tree (children)")


class ClaimFunctionalizationTaskInput(Input):
    constants = Object(required=False, allow_null=True, default=None, error="constants must be an object",
                       example={"${bk_timing}": "1"}, help_text=CONSTANTS_HELP)
    name = String(required=False, allow_null=True, allow_blank=False, default=None, validators=[_task_name], error=NAME_ERROR,
                  example="claimed", help_text="a new name for the task")


class PreviewTaskTreeInput(Input):
    template_source = template_source()
    exclude_task_nodes_id = exclude_task_nodes_id()


# --- outputs -------------------------------------------------------------------------------------------

class CreatedTask(serializers.Serializer):
    task_id = Integer(example=10, help_text="the new task's id")
    task_url = String(example="http://127.0.0.1:8000/taskflow/execute/2/?instance_id=10",
                      help_text="the task's page (SOPS_APP_HOST)")
    pipeline_tree = PipelineTree(help_text="the task's tree: node ids regenerated, excluded nodes left out, "
                                           "unused constants dropped, the given constants merged")


SUCCESS_TEXT = {"type": "string", "enum": ["success"], "example": "success"}
START_TASK_DATA = {**SUCCESS_TEXT, "description": 'the word "success" (the spec\'s example shows "Success")'}
OPERATE_NODE_DATA = {**SUCCESS_TEXT, "description": 'the word "success"'}
OPERATE_TASK_DATA = {"oneOf": [SUCCESS_TEXT, {"type": "object", "maxProperties": 0}],
                     "description": '"success" for start; {} for pause, resume and revoke', "example": {}}
STATES = ["CREATED", "READY", "RUNNING", "SUSPENDED", "NODE_SUSPENDED", "FAILED", "FINISHED", "REVOKED"]
STATE_HELP = ("CREATED not started; READY reached but not run yet; RUNNING; SUSPENDED paused; NODE_SUSPENDED a "
              "node or subprocess paused; FAILED a node failed and waits (retry or skip it); FINISHED; REVOKED")
SKIP_SCHEMA = {"oneOf": [{"type": "boolean"}, {"type": "integer"}]}


class StatusNode(serializers.Serializer):
    """A node's (or the task's) state; `children` maps the ids of the nodes reached to the same shape."""

    id = String(required=False, example="5a1622f9f43e3429acb604e18dbd100a",
                help_text="the run's id for the task, the node's id for a node; absent before the task starts")
    name = String(required=False, example="定时", help_text="the task's name, or the node's")
    state = Choice(STATES, example="RUNNING", help_text=STATE_HELP)
    retry = Integer(example=0, help_text="retries and skips of the node")
    skip = AnyValue(schema=SKIP_SCHEMA, example=False,
                    help_text="skipped by hand (0 before the task starts, as the original)")
    loop = Integer(required=False, example=1, help_text="how many times the node was entered")
    version = String(required=False, example="7447cc2801b630f497768493c02fb488",
                     help_text="the node's execution version (node_callback's version)")
    error_ignorable = Boolean(required=False, example=False, help_text="a failure of the node does not stop the run")
    start_time = Time(allow_null=True, help_text="YYYY-mm-dd HH:MM:SS +zzzz; null before it starts")
    finish_time = Time(allow_null=True, help_text="YYYY-mm-dd HH:MM:SS +zzzz; null until it ends")
    elapsed_time = Integer(required=False, example=12, help_text="seconds")
    # A class cannot name itself in its body: the schema refers to the component by name.
    children = AnyValue(schema={"type": "object", "additionalProperties": {"$ref": "#/components/schemas/StatusNode"}},
                        example={}, help_text="{node id: the same shape} of the nodes reached")


class TaskOutput(serializers.Serializer):
    key = String(example="${greeting}", help_text="the constant's key")
    name = String(example="greeting", help_text="the constant's name")
    value = AnyValue(allow_null=True, example="hello sops", help_text="its value when the task ended")


class TaskDetail(serializers.Serializer):
    id = Integer(example=10, help_text="task id")
    name = String(example="tasktest", help_text="task name")
    instance_name = String(example="tasktest", help_text="the same as name (the original's second name)")
    business_id = Integer(example=2, help_text="the business id")
    business_name = String(example="blueking", help_text="the business's name")
    template_id = Integer(allow_null=True, example=10,
                          help_text="the template the task was created from (a number, as the spec's table says)")
    template_source = String(example="business", help_text="business or common")
    category = String(example="Other", help_text="the template's category")
    flow_type = Choice(FlowType.values, example="common", help_text="common or common_func")
    current_flow = Choice(CurrentFlow.values, example="execute_task",
                          help_text="func_claim: a common_func task waiting to be claimed")
    create_time = Time()
    create_method = String(example="api", help_text=", ".join(CreateMethod.values))
    creator = String(example="admin", help_text="who created it")
    executor = String(example="admin", help_text='who started it; "" before')
    start_time = Time()
    finish_time = Time()
    end_time = Time(help_text="the same as finish_time")
    elapsed_time = Integer(example=7, help_text="seconds")
    is_started = Boolean(example=True, help_text="started")
    is_finished = Boolean(example=True, help_text="finished or revoked")
    is_revoked = Boolean(example=False, help_text="revoked")
    pipeline_tree = PipelineTree()
    task_url = String(example="http://127.0.0.1:8000/taskflow/execute/2/?instance_id=10", help_text="the task's page")
    constants = Object(child=Constant(), example={}, help_text="{${key}: constant} of the task's tree")
    outputs = List(child=TaskOutput(), example=[{"key": "${greeting}", "name": "greeting", "value": "hello sops"}],
                   help_text="the tree's outputs once produced")
    ex_data = AnyValue(example="", help_text="why the task failed, when it did")


class NodeOutput(serializers.Serializer):
    key = String(example="_result", help_text="the output's key")
    name = String(example="执行结果", help_text="the output's name (its key when the component names none)")
    value = AnyValue(allow_null=True, example=True, help_text="its value")
    preset = Boolean(example=True, help_text="declared by the component (listed first with component_code)")


class NodeHistory(serializers.Serializer):
    start_time = Time(allow_null=True)
    finish_time = Time(allow_null=True)
    elapsed_time = Integer(required=False, example=3, help_text="seconds")
    state = String(example="FAILED", help_text="how that run ended")
    skip = AnyValue(required=False, schema=SKIP_SCHEMA, example=False, help_text="skipped by hand")
    retry = Integer(required=False, example=0, help_text="retries before that run")
    loop = Integer(required=False, example=1, help_text="the loop count of that run")
    inputs = Object(required=False, example={"bk_timing": "1"}, help_text="the inputs of that run")
    outputs = AnyValue(required=False, example={"_result": False}, help_text="the outputs of that run")
    ex_data = AnyValue(required=False, allow_null=True, example="timeout", help_text="why that run failed")


class NodeDetail(serializers.Serializer):
    id = String(example=NODE_ID_EXAMPLE, help_text="the node's id")
    name = String(example="定时", help_text="the node's name")
    state = String(example="FINISHED", help_text="READY or CREATED when not reached yet; else as get_task_status")
    error_ignorable = Boolean(required=False, example=False, help_text="a failure of the node does not stop the run")
    retry = Integer(example=0, help_text="retries of the node")
    skip = AnyValue(schema=SKIP_SCHEMA, example=False, help_text="skipped by hand")
    loop = Integer(required=False, example=1, help_text="how many times the node was entered")
    version = String(required=False, example="23ac8c29f62b3337aafcf1f538d277f8",
                     help_text="the node's execution version (node_callback's version)")
    start_time = Time(allow_null=True)
    finish_time = Time(allow_null=True)
    elapsed_time = Integer(example=9, help_text="seconds")
    inputs = Object(example={"bk_timing": "1"}, help_text="the inputs it ran with (or would run with now)")
    outputs = List(child=NodeOutput(), example=[{"key": "_result", "name": "执行结果", "value": True,
                                                 "preset": True}], help_text="its outputs")
    ex_data = AnyValue(allow_null=True, example=None, help_text="why it failed, when it did")
    histories = List(child=NodeHistory(), example=[], help_text="earlier runs of the node (retries, loops)")
    children = Object(example={}, help_text="always {} (kept for the original's shape)")
    component_code = String(required=False, example="sleep_timer", help_text="the component it runs")


class CountGroup(serializers.Serializer):
    code = String(example="common", help_text="the group's code")
    name = String(example="默认任务流程", help_text="the group's display name")
    value = Integer(example=166, help_text="tasks in the group (a number; the spec's table says string)")


class TaskCount(serializers.Serializer):
    total = Integer(example=180, help_text="tasks matching the conditions")
    groups = List(child=CountGroup(), example=[{"code": "common", "name": "默认任务流程", "value": 166}],
                  help_text="every known group, zero counts included; status groups: " + ", ".join(TaskStatus.values))


class TaskSummary(serializers.Serializer):
    id = Integer(example=10, help_text="task id")
    name = String(example="tasktest", help_text="task name")
    category = String(example="Other", help_text="the template's category")
    bk_biz_id = Integer(example=2, help_text="the business id")
    bk_biz_name = String(example="blueking", help_text="the business's name")
    template_id = Integer(allow_null=True, example=10, help_text="the template it was created from")
    template_source = String(example="business", help_text="business or common")
    flow_type = String(example="common", help_text="common or common_func")
    current_flow = String(example="execute_task", help_text="execute_task, or func_claim while unclaimed")
    create_method = String(example="api", help_text=", ".join(CreateMethod.values))
    creator = String(example="admin", help_text="who created it")
    executor = String(example="admin", help_text='who started it; "" before')
    create_time = Time()
    start_time = Time()
    finish_time = Time()
    elapsed_time = Integer(example=3, help_text="seconds")
    is_started = Boolean(example=True, help_text="started")
    is_finished = Boolean(example=True, help_text="finished or revoked")
    is_revoked = Boolean(example=False, help_text="revoked")
    state = String(example="FINISHED", help_text="CREATED, EXECUTING, FINISHED or REVOKED")
    task_url = String(example="http://127.0.0.1:8000/taskflow/execute/2/?instance_id=10", help_text="the task's page")
    category_name = String(example="运维工具", help_text="the category's display name (the original's `category`)")
    project_id = Integer(example=2, help_text="the business id (the original's project)")
    project_name = String(example="blueking", help_text="the business's name")
    is_child_taskflow = Boolean(example=False, help_text="always false: subprocesses run inside their task")
    auth_actions = List(child=String(), example=["task_view", "task_operate"],
                        help_text="what the caller's role allows on the task: task_view, task_edit, task_operate, "
                                  "task_claim, task_delete, task_clone")


class TaskStatusItem(serializers.Serializer):
    id = Integer(example=10, help_text="task id")
    name = String(example="tasktest", help_text="task name")
    flow_type = String(example="common", help_text="common or common_func")
    current_flow = String(example="execute_task", help_text="execute_task, or func_claim while unclaimed")
    is_started = Boolean(example=True, help_text="started")
    is_finished = Boolean(example=False, help_text="finished or revoked")
    status = StatusNode(help_text="as get_task_status answers (children only with include_children_status)")
    is_deleted = Boolean(example=False, help_text="always false: deleted tasks are left out")
    create_time = Time()
    start_time = Time()
    finish_time = Time()
    url = String(example="http://127.0.0.1:8000/taskflow/execute/2/?instance_id=10", help_text="the task's page")


class ClaimedTask(serializers.Serializer):
    task_id = Integer(example=12, help_text="task id")
    name = String(example="claimed", help_text="the task's name now")
    current_flow = String(example="execute_task", help_text="execute_task: it can be started")


class TaskTreePreview(serializers.Serializer):
    pipeline_tree = PipelineTree(help_text="the tree with the nodes left out (template node ids kept)")
    constants_not_referred = Object(child=Constant(), example={}, help_text="constants the tree no longer uses")
