"""Task endpoints of the gateway: parse (serializers/tasks.py), authorise (ApigwView), call one service or
selector, render."""
from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import Role
from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import tasks as io
from sops_api.apigw.views import ApigwView
from tasks_app import selectors, services
from tasks_app.models import OperateSource
from templates_app import selectors as template_selectors

TAGS = ["tasks"]
API = OperateSource.API  # every operation through these endpoints is recorded as the API's


class _TaskView(ApigwView):
    def task(self, task_id: Any, *, with_tree: bool = True):
        return selectors.get_task(self.business, task_id, with_tree=with_tree)


def _create_kwargs(view: ApigwView, template_id: Any) -> dict[str, Any]:
    given = view.input
    template = template_selectors.get_template(view.business, template_id, given["template_source"])
    return dict(
        business=view.business, template=template, name=given["name"], creator=view.username,
        app_code=view.caller.app.app_code,
        constants=given["constants"], exclude_task_nodes_id=given["exclude_task_nodes_id"],
        flow_type=given["flow_type"], create_method="api", description=given["description"],
        callback_url=given.get("callback_url") or None, request_id=given.get("request_id") or None,
        callback_version=given["callback_version"], execute_task_nodes_id=given["execute_task_nodes_id"],
        template_schemes_id=given["template_schemes_id"], simplify_vars=given["simplify_vars"],
    )


def _created(task) -> dict[str, Any]:
    return {"task_id": task.pk, "task_url": task.url, "pipeline_tree": task.pipeline_tree}


class CreateTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.CreateTaskInput
    output_serializer = io.CreatedTask

    @extend_schema(summary="Create a task from a template", tags=TAGS,
                   description="The task is created, not started (start_task starts it). Nodes to run: "
                               "exclude_task_nodes_id, execute_task_nodes_id or template_schemes_id. Errors: the "
                               "template is not found (3540400); `task node[id=X] is not optional`, `task node[id=X] "
                               "is not in template pipeline tree`, `execute_task_nodes_id leaves out mandatory "
                               "(non-optional) nodes: ...`, `unknown template_schemes_id: ...`, `task params is "
                               "invalid: ...` (3540000).")
    def post(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        task = services.create_task(**_create_kwargs(self, template_id))
        return ok(_created(task))


class CreateAndStartTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.CreateTaskInput
    output_serializer = io.CreatedTask

    @extend_schema(summary="Create a task and start it, in one transaction", tags=TAGS,
                   description="create_task's parameters; the task is started before the answer (a replay "
                               "with the same request_id answers the same started task).")
    def post(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        task = services.create_and_start_task(**_create_kwargs(self, template_id), executor=self.username, source=API)
        return ok(_created(task))


class StartTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    output_serializer = io.START_TASK_DATA

    @extend_schema(summary="Start a task", tags=TAGS,
                   description="Errors: `task already started`, `task with current_flow:func_claim cannot be "
                               "started` (3545000).")
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        services.start_task_in(business=self.business, task_id=task_id, executor=self.username, source=API)
        return ok("success")


class OperateTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.OperateTaskInput
    output_serializer = io.OPERATE_TASK_DATA

    @extend_schema(summary="start | pause | resume | revoke a task", tags=TAGS,
                   description="Errors: `task action is invalid` (3540000); `task not started` and transitions "
                               "the task's state does not allow (3545000).")
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        action = self.input["action"]
        services.operate_task(task=self.task(task_id), action=action, username=self.username, source=API)
        return ok("success" if action == "start" else {})


class TaskStatusView(_TaskView):
    http_method_names = ["get"]
    output_serializer = io.StatusNode

    @extend_schema(summary="A task's status tree", tags=TAGS,
                   description="Before the task starts: state CREATED with no id and skip 0, as the original.")
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.task_status_by_id(self.business, task_id))


class TaskDetailView(_TaskView):
    http_method_names = ["get"]
    output_serializer = io.TaskDetail

    @extend_schema(summary="A task's detail, constants and outputs", tags=TAGS)
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.task_detail(self.task(task_id)))


class TaskNodeDetailView(_TaskView):
    http_method_names = ["get"]
    input_serializer = io.TaskNodeDetailInput
    output_serializer = io.NodeDetail

    @extend_schema(summary="One node's state, inputs, outputs and histories", tags=TAGS,
                   description="Errors: `subprocess_stack is not a valid array json`, `node_id is required` "
                               "(3540000); `node[node_id=N] not found in task[task_id=T]` (3540400).")
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = self.task(task_id, with_tree=False)  # loaded lazily, only for a node not reached yet
        given = self.input
        return ok(selectors.node_detail(task, given["node_id"], component_code=given["component_code"],
                                        subprocess_stack=given["subprocess_stack"]))


class QueryTaskCountView(ApigwView):
    http_method_names = ["post"]
    input_serializer = io.QueryTaskCountInput
    output_serializer = io.TaskCount

    @extend_schema(summary="Count a business's tasks grouped by status, category, flow_type or create_method",
                   tags=TAGS)
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.task_count(self.business, self.input["group_by"], self.input["conditions"]))


class NodeCallbackView(_TaskView):
    # The spec documents POST but its example sends `requests.get(url, json.dumps(kwargs))`.
    http_method_names = ["post", "get"]
    required_role = Role.OPERATOR
    input_serializer = io.NodeCallbackInput

    @extend_schema(summary="Call back a node waiting for it", tags=TAGS,
                   description="`data` is null. Errors: `task[T] does not have node[N]` (3540400); `task not "
                               "started`, `invalid operation, this node is finished or pipeline have been "
                               "revoked` (3545000).")
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        given = self.input
        services.node_callback(task=self.task(task_id), node_id=given["node_id"], data=given["callback_data"],
                               version=given.get("version") or None, username=self.username, source=API)
        return ok(None, message="success")

    get = post


class OperateNodeView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.OperateNodeInput
    output_serializer = io.OPERATE_NODE_DATA

    @extend_schema(summary="retry | skip | skip_exg | callback | pause_subproc | resume_subproc | forced_fail",
                   tags=TAGS)
    def post(self, request, bk_biz_id: str, task_id: str) -> JsonResponse:
        given = self.input
        services.operate_node(task=self.task(task_id), node_id=given["node_id"], action=given["action"],
                              username=self.username, source=API, inputs=given["inputs"], data=given["data"],
                              flow_id=given["flow_id"])
        return ok("success")


class TaskListView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.TaskListInput
    output_serializer = io.TaskSummary(many=True)
    envelope_extra = {"count": {"type": "integer", "nullable": True, "example": 1,
                                "description": "tasks matching the filters (before paging); null with "
                                               "without_count=true"}}

    @extend_schema(summary="A business's tasks, newest first, paginated", tags=TAGS)
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        given = self.input
        items, count = selectors.task_list(self.business, **{k: v for k, v in given.items() if k != "without_count"},
                                           with_count=not given["without_count"], role=self.caller.role)
        return ok(items, count=count)


class TasksStatusView(ApigwView):
    http_method_names = ["post"]
    input_serializer = io.TasksStatusInput
    output_serializer = io.TaskStatusItem(many=True)

    @extend_schema(summary="Status of up to 50 tasks at once", tags=TAGS)
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        given = self.input
        return ok(selectors.tasks_status(self.business, given["task_id_list"],
                                         include_children=given["include_children_status"]))


class ClaimFunctionalizationTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.ClaimFunctionalizationTaskInput
    output_serializer = io.ClaimedTask

    @extend_schema(summary="Claim a common_func task so it can start", tags=TAGS)
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = services.claim_functionalization_task(task=self.task(task_id), username=self.username, source=API,
                                                     constants=self.input["constants"], name=self.input["name"])
        return ok({"task_id": task.pk, "name": task.name, "current_flow": task.current_flow})


class PreviewTaskTreeView(ApigwView):
    http_method_names = ["post"]
    input_serializer = io.PreviewTaskTreeInput
    output_serializer = io.TaskTreePreview

    @extend_schema(summary="The tree a task would get with these nodes excluded", tags=TAGS)
    def post(self, request, bk_biz_id: str, template_id: str) -> JsonResponse:
        template = template_selectors.get_template(self.business, template_id, self.input["template_source"])
        return ok(selectors.preview_tree(self.business, template, self.input["exclude_task_nodes_id"]))
