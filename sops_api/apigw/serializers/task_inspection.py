"""Inputs and outputs of the task inspection endpoints (task_inspection.py, task_logs.py): node data,
constants, manual intervention, functionalization tickets, counts, effective time, the audit log, logs."""
from __future__ import annotations

from rest_framework import serializers

from tasks_app import inspection, selectors
from tasks_app.models import OperateSource, OperateType

from .base import Input
from .common import NODE_ID_EXAMPLE
from .fields import AnyValue, Boolean, Choice, Integer, List, Object, Parsed, String

TASK_EXAMPLE = {"id": 10, "name": "tasktest", "category": "运维工具", "create_method": "api", "creator": "admin",
                "executor": "", "start_time": None, "finish_time": None, "is_started": False, "is_finished": False,
                "template_source": "business", "template_id": "10", "is_child_taskflow": False, "project_id": 2,
                "project_name": "blueking", "bk_biz_id": 2, "bk_biz_name": "blueking"}


def _expected_timezone() -> String:
    return String(required=False, default="", example="Asia/Shanghai",
                  help_text="an IANA zone: times render as YYYY-mm-dd HH:MM:SS +zzzz in it (ISO 8601 UTC without)")


# --- inputs --------------------------------------------------------------------------------------------

class TaskNodeDataInput(Input):
    node_id = String(allow_blank=False, example=NODE_ID_EXAMPLE, help_text="the node's id in the task's tree")
    component_code = String(default="", example="sleep_timer",
                            help_text="with it, outputs list the component's declared outputs first (preset: true)")
    subprocess_stack = Parsed(selectors.parse_subprocess_stack, required=False, default=list,
                              example=["nodeaaa0ce51d2143aa9b0dbc27cb7df"],
                              schema={"type": "array", "items": {"type": "string"}},
                              help_text="SubProcess node ids leading to the node, as a JSON list")
    loop = Integer(required=False, allow_null=True, default=None, min_value=1, example=1,
                   help_text="a loop below the node's current one reads that loop's last run; default: the latest")
    template_node_id = String(default="", example="node8c0e1b6d5f1c3a7e9b2d4f6a8c0e",
                              help_text="the template node whose execution-time history to list (default: the "
                                        "node's own template node)")


class TaskConstantsInput(Input):
    constants = Object(default=dict, error="constants must be an object", example={"${bk_timing}": "5"},
                       help_text='{"${key}": value}: new values of the task\'s global variables; keys the task '
                                 "does not define are ignored; values are stored as given")
    name = String(required=False, allow_null=True, example="ignored",
                  help_text="ignored, as the original ignores it since 2021: a task's name is not changed here")


class ManualInterventionInput(Input):
    task_id_list = List(child=Integer(error="task_id_list item[{value}] must be an integer"), default=list,
                        max_length=inspection.MANUAL_INTERVENTION_BATCH, example=[10, 11],
                        error_messages={"max_length": "task_id_list holds at most {max_length} ids"},
                        help_text=f"task ids of the business, at most {inspection.MANUAL_INTERVENTION_BATCH} (the "
                                  "original refuses 10 or more); others are left out")


class FunctionalizationListInput(Input):
    status = Choice(inspection.TICKET_STATUSES, required=False, default="", example="submitted",
                    error=f"status must be one of {'/'.join(inspection.TICKET_STATUSES)}",
                    help_text="submitted (waits to be claimed), claimed, executed (started), finished; sops "
                              "never rejects, so rejected matches none")
    execute_status = Choice(inspection.EXECUTE_STATUSES, required=False, default="", example="nonExecution",
                            error=f"execute_status must be one of {'/'.join(inspection.EXECUTE_STATUSES)}",
                            help_text="the task's state: nonExecution, running, revoked or finished")
    id_in = String(default="", example="10,11", help_text="comma-separated ticket ids (a ticket's id is its task's)")
    task_id_in = String(default="", example="10,11", help_text="comma-separated task ids")
    project_id = Integer(required=False, example=2,
                         help_text="only this business (its bk_biz_id: sops has no separate project ids)")
    creator = String(default="", example="admin", help_text="part of the creator's name (any case)")
    claimant = String(default="", example="bob", help_text="part of the claimant's name (any case)")
    create_time_gte = String(default="", example="2026-01-01 00:00:00", help_text="created at or after")
    create_time_lte = String(default="", example="2026-12-31 23:59:59", help_text="created at or before")
    offset = Parsed(lambda v: v, required=False, default=0, example=0, schema={"type": "integer", "minimum": 0},
                    help_text="tickets to pass over")
    limit = Parsed(lambda v: v, required=False, default=100, example=100, schema={"type": "integer", "minimum": 0},
                   help_text="tickets to answer at most (above 200: 200)")
    expected_timezone = _expected_timezone()


class TaskCountInput(Input):
    keyword = String(required=False, example="nightly", help_text="part of the task's name (any case)")
    is_started = String(required=False, example="true", help_text="started or not (false, 0 or empty: not)")
    is_finished = String(required=False, example="false", help_text="finished or not (false, 0 or empty: not)")
    executor = String(required=False, example="admin", help_text="started by exactly this user")
    create_method = String(required=False, example="api", help_text="exactly this create_method")
    template_id = String(required=False, example="10", help_text="created from this template")
    expected_timezone = String(required=False, example="Asia/Shanghai", help_text="accepted, no effect")


class OperateRecordInput(Input):
    node_id = String(default="", example=NODE_ID_EXAMPLE, help_text="only this node's operations")


class EffectiveTimeInput(Input):
    debug = String(default="", example="0", help_text="1: add data.debug (node details and raw data)")


class NodeLogInput(Input):
    node_id = String(default="", example=NODE_ID_EXAMPLE, help_text="the node's id (required)")
    version = String(default="", example="7447cc2801b630f497768493c02fb488",
                     help_text="the node attempt (get_task_node_detail's version); default: the latest")
    page = Integer(required=False, allow_null=True, example=1, help_text="accepted for the original's callers; "
                                                                         "the whole attempt's log is answered")
    page_size = Integer(required=False, allow_null=True, example=30, help_text="accepted, see page")


class PluginLogInput(Input):
    node_id = String(default="", example=NODE_ID_EXAMPLE, help_text="the node's id (required)")
    trace_id = String(default="", example="7447cc2801b630f497768493c02fb488",
                      help_text="the node's outputs.trace_id, or the node attempt's version")
    plugin_code = String(default="", example="bk_http_request", help_text="the node's component code")
    scroll_id = String(default="", example="", help_text="accepted; one answer holds the whole attempt's log")


# --- outputs -------------------------------------------------------------------------------------------

class NodeDataOutput(serializers.Serializer):
    name = String(required=False, example="执行结果", help_text="the output's name (with component_code)")
    key = String(example="_result", help_text="the output's key, or the global variable capturing it")
    value = AnyValue(allow_null=True, example=True, help_text='its value')
    preset = Boolean(example=True, help_text="declared by the component")


class ExecutionTime(serializers.Serializer):
    archived_time = String(example="2026-02-01T10:00:07+08:00", help_text="when that run finished (ISO 8601)")
    elapsed_time = Integer(example=5, help_text="seconds")


class NodeData(serializers.Serializer):
    inputs = Object(example={"bk_timing": "5"}, help_text='the inputs of that run (rendered)')
    outputs = List(child=NodeDataOutput(), example=[{"name": "执行结果", "key": "_result", "value": True,
                                                     "preset": True}], help_text='its outputs')
    ex_data = String(example="", help_text="why it failed, when it did")
    execution_time = List(child=ExecutionTime(), example=[{"archived_time": "2026-02-01T10:00:07+08:00",
                                                           "elapsed_time": 5}],
                          help_text="the template node's last finished runs across the template's tasks, newest "
                                    "first (SOPS_MAX_RECORDED_NODE_EXECUTION_TIMES)")


MODIFY_CONSTANTS_DATA = {"type": "string", "enum": ["success"], "example": "success", "description": 'the word "success"'}


class ManualInterventionItem(serializers.Serializer):
    id = Integer(example=10, help_text="task id")
    manual_intervention_required = Boolean(example=True, help_text="a node failed, is paused, or waits in a "
                                                                   "pause_node")


class FunctionalizationTicket(serializers.Serializer):
    id = Integer(example=10, help_text="ticket id (= the task's id)")
    name = String(example="tasktest", help_text="the task's name")
    creator = String(example="admin", help_text='who created it')
    claimant = String(example="", help_text='who claimed it ("" before)')
    rejecter = String(example="", help_text='always "": sops never rejects')
    predecessor = String(example="", help_text='always ""')
    create_time = String(allow_null=True, example="2026-01-01T00:00:00.000Z", help_text='§0.10: ISO 8601 UTC, or YYYY-mm-dd HH:MM:SS +zzzz with expected_timezone')
    claim_time = String(allow_null=True, example=None, help_text='when it was claimed (from the audit log); null/"" before')
    reject_time = String(allow_null=True, example=None, help_text='always null/""')
    transfer_time = String(allow_null=True, example=None, help_text='always null/""')
    status = String(example="submitted", help_text='submitted, claimed, executed or finished')
    task = Object(example=TASK_EXAMPLE, help_text="the ticket's task: id, name, category (display name), create_method, creator, executor, times, flags, template, business")


class TaskCountData(serializers.Serializer):
    count = Integer(example=12, help_text='tasks matching the filters')


class OperateRecord(serializers.Serializer):
    id = Integer(example=1, help_text='the id')
    project_id = Integer(example=2, help_text="the business's bk_biz_id")
    instance_id = Integer(example=10, help_text="task id")
    operator = String(example="admin", help_text='who did it')
    operate_type = Choice(OperateType.values, example="start", help_text="what was done")
    operate_type_name = String(example="执行", help_text='its label')
    operate_source = Choice(OperateSource.values, example="api",
                            help_text="api, app (the operator pages), admin, periodic or clocked")
    operate_source_name = String(example="API网关", help_text='its label')
    operate_date = String(example="2026-09-08T15:02:11.123456+08:00", help_text="ISO 8601, server time zone")
    node_id = String(example="", help_text='"" for the task itself')
    extra_info = Object(example={}, help_text="the operation's inputs (credentials masked)")


class EffectiveTime(serializers.Serializer):
    task_instance_id = Integer(example=10, help_text='task id')
    instance_id = Integer(example=10, help_text="task id (the original's pipeline instance)")
    project_id = Integer(example=2, help_text="the business's bk_biz_id")
    template_id = String(example="10", help_text='the template the task was created from')
    task_template_id = String(example="10", help_text='the same as template_id')
    creator = String(example="admin", help_text='who created it')
    create_method = String(example="api", help_text='how the task was created')
    category = String(example="OpsTools", help_text="the template's category code")
    create_time = String(allow_null=True, example="2026-01-01 10:00:00 +0800", help_text='§0.10: ISO 8601 UTC, or YYYY-mm-dd HH:MM:SS +zzzz with expected_timezone')
    start_time = String(allow_null=True, example="2026-01-01 10:00:01 +0800", help_text='YYYY-mm-dd HH:MM:SS +zzzz (server time zone)')
    finish_time = String(allow_null=True, example="2026-01-01 10:05:01 +0800", help_text='YYYY-mm-dd HH:MM:SS +zzzz (server time zone)')
    total_elapsed_time = Integer(example=300, help_text='seconds from start to finish')
    effective_time = Integer(example=20, help_text='seconds, manual-waiting components left out')
    excluded_node_count = Integer(example=1, help_text='node attempts of the components left out')
    total_node_count = Integer(example=3, help_text='node attempts (retries included)')
    excluded_component_codes = List(child=String(), example=["pause_node"], help_text='SOPS_MANUAL_WAITING_COMPONENT_CODES')
    debug = Object(required=False, example={}, help_text='with debug=1: node_details, parallel_gateways, raw_data')


NODE_LOG_DATA = {"type": "string", "example": "[2026-01-09T10:00:00+00:00] INFO GET https://example.com/ (timeout 60 s)",
                 "description": "the attempt's lines, `[time] LEVEL message`, credentials masked; a last WARNING "
                                "line says when the attempt's log was truncated"}


class PluginLog(serializers.Serializer):
    logs = String(example="[2026-01-09T10:00:00+00:00]INFO-bk_http_request: GET https://example.com/", help_text='the lines, [time]LEVEL-plugin: message')
    total = Integer(example=1, help_text='how many lines')
    scroll_id = String(example="", help_text='always "": one answer holds the whole log')
    truncated = Boolean(example=False, help_text='lines were dropped past SOPS_NODE_LOG_MAX_CHARS')


