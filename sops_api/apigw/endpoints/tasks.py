"""Task endpoints of the gateway: parse, authorise (ApigwView), call one service or selector, render."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import Role
from sops_api.apigw.envelope import ok
from sops_api.apigw.params import bool_param, int_param, json_param
from sops_api.apigw.views import ApigwView
from sops_common.errors import InvalidInput
from tasks_app import selectors, services
from tasks_app.models import FlowType
from templates_app import selectors as template_selectors

TAGS = ["tasks"]


class _TaskView(ApigwView):
    def task(self, task_id: Any, *, with_tree: bool = True):
        return selectors.get_task(self.business, task_id, with_tree=with_tree)


def _create_kwargs(view: ApigwView, template_id: Any) -> dict[str, Any]:
    params = view.params
    source = template_selectors.parse_source(params.get("template_source"))
    template = template_selectors.get_template(view.business, template_id, source)
    flow_type = params.get("flow_type") or FlowType.COMMON
    return dict(
        business=view.business, template=template, name=params.get("name"), creator=view.username,
        app_code=view.caller.app.app_code,
        constants=json_param(params, "constants", dict, {}) or {},
        exclude_task_nodes_id=json_param(params, "exclude_task_nodes_id", list, []) or [],
        flow_type=flow_type, create_method="api",
        description=params.get("description") or "",
        callback_url=params.get("callback_url") or None,
        request_id=(str(params["request_id"]) if params.get("request_id") not in (None, "") else None),
    )


def _created(task) -> dict[str, Any]:
    return {"task_id": task.pk, "task_url": task.url, "pipeline_tree": task.pipeline_tree}


class CreateTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR

    @extend_schema(summary="Create a task from a template", tags=TAGS)
    def post(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        task = services.create_task(**_create_kwargs(self, template_id))
        return ok(_created(task))


class CreateAndStartTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR

    @extend_schema(summary="Create a task and start it, in one transaction", tags=TAGS)
    def post(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        with transaction.atomic():
            task = services.create_task(**_create_kwargs(self, template_id))
            if not task.is_started:  # an idempotent replay of a started task must not fail
                services.start_task(task=task, executor=self.username)
        return ok(_created(task))


class StartTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR

    @extend_schema(summary="Start a task", tags=TAGS)
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        services.start_task(task=self.task(task_id), executor=self.username)
        return ok("success")


class OperateTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR

    @extend_schema(summary="start | pause | resume | revoke a task", tags=TAGS)
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        action = self.params.get("action")
        if action not in services.TASK_ACTIONS:
            raise InvalidInput("task action is invalid")
        task = self.task(task_id)
        services.operate_task(task=task, action=action, username=self.username)
        return ok("success" if action == "start" else {})


class TaskStatusView(_TaskView):
    http_method_names = ["get"]

    @extend_schema(summary="A task's status tree", tags=TAGS)
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.task_status(self.task(task_id, with_tree=False)))


class TaskDetailView(_TaskView):
    http_method_names = ["get"]

    @extend_schema(summary="A task's detail, constants and outputs", tags=TAGS)
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.task_detail(self.task(task_id)))


class TaskNodeDetailView(_TaskView):
    http_method_names = ["get"]

    @extend_schema(summary="One node's state, inputs, outputs and histories", tags=TAGS)
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = self.task(task_id, with_tree=False)  # loaded lazily, only for a node not reached yet
        # The spec's table names it act_id; its examples send node_id.
        node_id = self.params.get("node_id") or self.params.get("act_id") or ""
        stack = selectors.parse_subprocess_stack(self.params.get("subprocess_stack"))
        data = selectors.node_detail(task, str(node_id), component_code=self.params.get("component_code") or "",
                                     subprocess_stack=stack)
        return ok(data)


class QueryTaskCountView(ApigwView):
    http_method_names = ["post"]

    @extend_schema(summary="Count a business's tasks grouped by status, category, flow_type or create_method",
                   tags=TAGS)
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.task_count(self.business, self.params.get("group_by"), self.params.get("conditions")))


class NodeCallbackView(_TaskView):
    # The spec documents POST but its example sends `requests.get(url, json.dumps(kwargs))`.
    http_method_names = ["post", "get"]
    required_role = Role.OPERATOR

    @extend_schema(summary="Call back a node waiting for it", tags=TAGS)
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = self.task(task_id)
        services.node_callback(task=task, node_id=str(self.params.get("node_id") or ""),
                               data=self.params.get("callback_data"),
                               version=self.params.get("version") or None)
        return ok(None, message="success")

    get = post


class OperateNodeView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR

    @extend_schema(summary="retry | skip | skip_exg | callback | pause_subproc | resume_subproc | forced_fail",
                   tags=TAGS)
    def post(self, request, bk_biz_id: str, task_id: str) -> JsonResponse:
        task = self.task(task_id)
        params = self.params
        data = params.get("data")
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("data field is not a valid object")
        inputs = params.get("inputs")
        if inputs is not None and not isinstance(inputs, dict):
            raise InvalidInput("inputs field is not a valid object")
        services.operate_node(task=task, node_id=str(params.get("node_id") or ""), action=params.get("action") or "",
                              username=self.username, inputs=inputs, data=data, flow_id=params.get("flow_id"))
        return ok("success")


class TaskListView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(summary="A business's tasks, newest first, paginated", tags=TAGS)
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        p = self.params
        items, count = selectors.task_list(
            self.business, keyword=p.get("keyword") or "", creator=p.get("creator") or "",
            executor=p.get("executor") or "", state=p.get("state") or "",
            is_started=bool_param(p, "is_started") if p.get("is_started") not in (None, "") else None,
            is_finished=bool_param(p, "is_finished") if p.get("is_finished") not in (None, "") else None,
            template_id=int_param(p, "template_id"), create_method=p.get("create_method") or "",
            create_time_start=p.get("create_time_start") or "", create_time_end=p.get("create_time_end") or "",
            offset=int_param(p, "offset", 0, minimum=0) or 0,
            limit=int_param(p, "limit", 100, minimum=1, maximum=200) or 100,
            with_count=not bool_param(p, "without_count"),
        )
        return ok(items, count=count)


class TasksStatusView(ApigwView):
    http_method_names = ["post"]
    MAX_TASKS = 50

    @extend_schema(summary="Status of up to 50 tasks at once", tags=TAGS)
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        ids = json_param(self.params, "task_id_list", list)
        if not ids:
            raise InvalidInput("task_id_list must be a non-empty list")
        if len(ids) > self.MAX_TASKS:
            raise InvalidInput(f"task_id_list holds at most {self.MAX_TASKS} ids")
        include = bool_param(self.params, "include_children_status", False)
        return ok(selectors.tasks_status(self.business, ids, include_children=include))


class ClaimFunctionalizationTaskView(_TaskView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR

    @extend_schema(summary="Claim a common_func task so it can start", tags=TAGS)
    def post(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = services.claim_functionalization_task(
            task=self.task(task_id), username=self.username,
            constants=json_param(self.params, "constants", dict), name=self.params.get("name"))
        return ok({"task_id": task.pk, "name": task.name, "current_flow": task.current_flow})


class PreviewTaskTreeView(ApigwView):
    http_method_names = ["post"]

    @extend_schema(summary="The tree a task would get with these nodes excluded", tags=TAGS)
    def post(self, request, bk_biz_id: str, template_id: str) -> JsonResponse:
        source = template_selectors.parse_source(self.params.get("template_source"))
        template = template_selectors.get_template(self.business, template_id, source)
        exclude = json_param(self.params, "exclude_task_nodes_id", list, []) or []
        return ok(selectors.preview_tree(self.business, template, exclude))
