"""Task inspection and control endpoints (later-endpoints.md §8): node data, constants of a task not
started, manual intervention, functionalization tickets, counts, effective time and the audit log.
Parse (serializers/task_inspection.py), authorise (ApigwView), call one service or selector, render."""
from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import Role
from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import task_inspection as io
from sops_api.apigw.views import ApigwView
from sops_api.logs import redact_value
from sops_common.timefmt import expected_zone
from tasks_app import inspection, selectors, services
from tasks_app.models import OperateSource

TAGS = ["task inspection"]


class _TaskView(ApigwView):
    def task(self, task_id: Any, *, with_tree: bool = True):
        return selectors.get_task(self.business, task_id, with_tree=with_tree)


class TaskNodeDataView(_TaskView):
    http_method_names = ["get"]
    input_serializer = io.TaskNodeDataInput
    output_serializer = io.NodeData

    @extend_schema(summary="A node's inputs, outputs and failure detail, by loop, with its execution-time history",
                   tags=TAGS,
                   description="Errors: `node_id is required`, `subprocess_stack is not a valid array json`, a "
                               "`loop` that is not a positive integer (3540000); the task or the node is not "
                               "found (3540400). Unlike the original, `execution_time` is answered (docs/"
                               "differences.md).")
    def get(self, request, bk_biz_id: str, task_id: str) -> JsonResponse:
        given = self.input
        return ok(inspection.node_data(self.task(task_id), given["node_id"], component_code=given["component_code"],
                                       subprocess_stack=given["subprocess_stack"], loop=given["loop"],
                                       template_node_id=given["template_node_id"]))


class ModifyConstantsForTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.TaskConstantsInput
    output_serializer = io.MODIFY_CONSTANTS_DATA

    @extend_schema(summary="Change the global variables of a task that has not started", tags=TAGS,
                   description="Errors: `task is started`, `task is finished`, component outputs or hidden "
                               "variables among the keys, `constants must be an object` (3540000); the task is not "
                               "found (3540400). Recorded in the task's audit log (operate_type update).")
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        services.modify_task_constants(task=self.task(task_id), constants=self.input["constants"],
                                       username=self.username, source=OperateSource.API)
        return ok("success")


class TasksManualInterventionStateView(ApigwView):
    http_method_names = ["post"]
    input_serializer = io.ManualInterventionInput
    output_serializer = io.ManualInterventionItem(many=True)

    @extend_schema(summary="Whether each task of a batch waits for a person", tags=TAGS,
                   description=f"At most {inspection.MANUAL_INTERVENTION_BATCH} task ids per call (the original "
                               "refuses 10 or more). True when the task's root or a node failed or is paused, or "
                               "a pause_node waits; false before the start and once it ended. Tasks of other "
                               "businesses and unknown ids are left out; newest id first.")
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(inspection.manual_intervention_states(self.business, self.input["task_id_list"]))


class FunctionalizationTaskListView(ApigwView):
    http_method_names = ["get"]
    business_kwarg = None
    input_serializer = io.FunctionalizationListInput
    output_serializer = io.FunctionalizationTicket(many=True)
    envelope_extra = {"count": {"type": "integer", "example": 1, "description": "tickets matching the filters"}}

    @extend_schema(summary="Functionalization tickets (common_func tasks) of the businesses the caller may see",
                   tags=TAGS,
                   description="Newest first; offset 0 and limit 100 by default, a limit above 200 is 200. Only "
                               "businesses where the caller has a role are listed (the original lists every "
                               "project). Times are ISO 8601 UTC, or YYYY-mm-dd HH:MM:SS +zzzz with "
                               "expected_timezone. Errors: a bad filter, offset or limit (3540000).")
    def get(self, request) -> JsonResponse:
        given = self.input
        zone = expected_zone(given["expected_timezone"])
        offset, limit = inspection.page_bounds(given["offset"], given["limit"])
        filters = inspection.TicketFilters(project_id=given.get("project_id"), **{k: given[k] for k in (
            "status", "execute_status", "id_in", "task_id_in", "creator", "claimant", "create_time_gte",
            "create_time_lte")})
        items, count = inspection.functionalization_tasks(self.caller.user, filters, offset=offset, limit=limit,
                                                          zone=zone)
        return ok(items, count=count)


COUNT_FILTERS = ("keyword", "is_started", "is_finished", "executor", "create_method", "template_id")


class TaskCountView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.TaskCountInput
    output_serializer = io.TaskCountData

    @extend_schema(summary="How many tasks of the business match the filters", tags=TAGS,
                   description="A filter applies whenever its key is present, even empty (an empty boolean is "
                               "false), as the original. `data` is `{count}`.")
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        given = self.input
        return ok({"count": inspection.count_tasks(self.business, {k: given[k] for k in COUNT_FILTERS
                                                                   if k in given})})


class TaskEffectiveTimeView(_TaskView):
    http_method_names = ["get"]
    input_serializer = io.EffectiveTimeInput
    output_serializer = io.EffectiveTime

    @extend_schema(summary="A finished task's run time without its manual-waiting components' time", tags=TAGS,
                   description="The components left out are SOPS_MANUAL_WAITING_COMPONENT_CODES. Errors: "
                               "`task[id=T] is not finished yet`, `task[id=T] was revoked, cannot calculate "
                               "effective time` (3540000); the task is not found (3540400).")
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        return ok(inspection.effective_time(self.task(task_id), debug=self.input["debug"] == "1"))


class TaskOperateRecordView(_TaskView):
    http_method_names = ["get"]
    input_serializer = io.OperateRecordInput
    output_serializer = io.OperateRecord(many=True)

    @extend_schema(summary="The audit log of a task: every operation on it and its nodes", tags=TAGS,
                   description="Who, when, what, through which door (api, app: the operator pages, admin, "
                               "periodic, clocked) and with which inputs (credentials masked), oldest first.")
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        records = inspection.task_operations(self.task(task_id, with_tree=False), self.input["node_id"] or None)
        return ok([{**r, "extra_info": redact_value(r["extra_info"])} for r in records])
