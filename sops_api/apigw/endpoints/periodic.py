"""The six periodic-task endpoints of the spec, plus get_periodic_task_history.

The spec's examples call even the POST endpoints with
``requests.get(url, json.dumps(kwargs))``, so every write here answers GET as
well as POST. The writes look their periodic task (or template) up before they
validate the parameters (`validate_input_first = False`): the original reports
a missing object first.
"""
from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import Role
from periodic_app import selectors, services
from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import periodic as io
from sops_api.apigw.views import ApigwView
from sops_common.errors import NotFound
from sops_common.limits import NotAnInteger, shown
from templates_app import selectors as template_selectors

TAGS = ["periodic tasks"]
PERIODIC_TASK = {"task_id": "periodic task id"}


class PeriodicTaskListView(ApigwView):
    http_method_names = ["get"]
    output_serializer = io.PeriodicTaskSummary(many=True)

    @extend_schema(summary="List a business's periodic tasks", tags=TAGS)
    def get(self, request: Any, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.list_periodic_tasks(self.business))


class PeriodicTaskInfoView(ApigwView):
    http_method_names = ["get"]
    output_serializer = io.PeriodicTaskInfo
    path_help = PERIODIC_TASK

    @extend_schema(summary="One periodic task with its form and pipeline_tree", tags=TAGS)
    def get(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = selectors.get_periodic_task(self.business, task_id)
        return ok(selectors.periodic_task_info(task, self.business))


class CreatePeriodicTaskView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER
    input_serializer = io.CreatePeriodicTaskInput
    output_serializer = io.CreatedPeriodicTask
    # As the original, a missing template is reported before an unreadable body or a bad parameter.
    defer_body_errors = True
    validate_input_first = False

    @extend_schema(summary="Create a periodic task (disabled) from a template", tags=TAGS,
                   description="Errors: `template(T) does not exist` (3540400) before any other; then the "
                               "parameters (3540000), in the order name, cron, constants, exclude_task_nodes_id.")
    def post(self, request: Any, template_id: str, bk_biz_id: str) -> JsonResponse:
        try:
            source = template_selectors.parse_source(self.params.get("template_source"))
            template = template_selectors.get_template(self.business, template_id, source)
        except (NotFound, NotAnInteger) as exc:
            # A number out of range stays a bad request (3540000).
            raise NotFound(f"template({shown(template_id)}) does not exist") from exc
        given = self.input
        task = services.create_periodic_task(
            business=self.business, template=template, name=given["name"], cron=given["cron"],
            creator=self.username, constants=given["constants"],
            exclude_task_nodes_id=given["exclude_task_nodes_id"], overlap_policy=given["overlap_policy"],
        )
        data = selectors.periodic_task_info(task, self.business)
        # The spec's create example answers template_id as a number (list and info use a string).
        data["template_id"] = task.template_id
        return ok(data)

    get = post


class SetPeriodicTaskEnabledView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER
    input_serializer = io.SetPeriodicTaskEnabledInput
    output_serializer = io.EnabledState
    path_help = PERIODIC_TASK

    @extend_schema(summary="Enable or disable a periodic task (enabled defaults to false)", tags=TAGS)
    def post(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = services.set_enabled(business=self.business, task_id=task_id, enabled=self.input["enabled"],
                                    editor=self.username)
        return ok({"enabled": task.enabled})

    get = post


class ModifyCronView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER
    input_serializer = io.ModifyCronInput
    output_serializer = io.CronState
    validate_input_first = False
    path_help = PERIODIC_TASK

    @extend_schema(summary="Change a periodic task's cron (also while enabled)", tags=TAGS,
                   description="A missing cron is refused (the original silently scheduled `* * * * *`).")
    def post(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        # Look the task up first so a missing task is reported as such, not as a bad cron.
        selectors.get_periodic_task(self.business, task_id)
        task = services.modify_cron(business=self.business, task_id=task_id, cron=self.input["cron"],
                                    editor=self.username)
        return ok({"cron": task.cron})

    get = post


class ModifyConstantsView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER
    input_serializer = io.ModifyConstantsInput
    output_serializer = io.CONSTANTS_DATA
    validate_input_first = False
    path_help = PERIODIC_TASK

    @extend_schema(summary="Change values of a periodic task's constants (also while enabled)", tags=TAGS)
    def post(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        selectors.get_periodic_task(self.business, task_id)
        task = services.modify_constants(business=self.business, task_id=task_id, constants=self.input["constants"],
                                         editor=self.username)
        return ok(task.constants)

    get = post


class PeriodicTaskHistoryView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.PeriodicTaskHistoryInput
    output_serializer = io.PeriodicTaskHistory
    validate_input_first = False
    path_help = PERIODIC_TASK

    @extend_schema(summary="A periodic task's firings, newest first (offset/limit paging)", tags=TAGS)
    def get(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = selectors.get_periodic_task(self.business, task_id)
        given = self.input
        return ok(selectors.list_history(task, self.business, offset=given["offset"], limit=given["limit"]))
