"""The six periodic-task endpoints of the spec, plus get_periodic_task_history.

The spec's examples call even the POST endpoints with
``requests.get(url, json.dumps(kwargs))``, so every write here answers GET as
well as POST.
"""
from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import Role
from periodic_app import selectors, services
from periodic_app.models import OverlapPolicy
from sops_api.apigw.envelope import ok
from sops_api.apigw.params import bool_param, int_param, json_param
from sops_api.apigw.views import ApigwView
from sops_common.errors import InvalidInput, NotFound
from templates_app import selectors as template_selectors

TAGS = ["periodic tasks"]


class PeriodicTaskListView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(summary="List a business's periodic tasks", tags=TAGS)
    def get(self, request: Any, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.list_periodic_tasks(self.business))


class PeriodicTaskInfoView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(summary="One periodic task with its form and pipeline_tree", tags=TAGS)
    def get(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = selectors.get_periodic_task(self.business, task_id)
        return ok(selectors.periodic_task_info(task, self.business))


class CreatePeriodicTaskView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER
    # As the original, a missing template is reported before an unreadable body.
    defer_body_errors = True

    @extend_schema(summary="Create a periodic task (disabled) from a template", tags=TAGS)
    def post(self, request: Any, template_id: str, bk_biz_id: str) -> JsonResponse:
        params = self.params
        source = template_selectors.parse_source(params.get("template_source"))
        try:
            template = template_selectors.get_template(self.business, template_id, source)
        except (NotFound, InvalidInput) as exc:
            raise NotFound(f"template({template_id}) does not exist") from exc
        if self.body_error is not None:
            raise self.body_error
        name = services.validate_name(params.get("name"))
        if params.get("cron") in (None, ""):
            raise InvalidInput("cron is required: a dict of minute, hour, day_of_week, day_of_month, "
                             "month_of_year (each defaults to *)")
        cron = services.parse_cron_param(params.get("cron"))
        constants = json_param(params, "constants", dict) or {}
        exclude = json_param(params, "exclude_task_nodes_id", list) or []
        overlap = params.get("overlap_policy") or OverlapPolicy.ALLOW
        task = services.create_periodic_task(
            business=self.business, template=template, name=name, cron=cron, creator=self.username,
            constants=constants, exclude_task_nodes_id=exclude, overlap_policy=overlap,
        )
        data = selectors.periodic_task_info(task, self.business)
        # The spec's create example answers template_id as a number (list and info use a string).
        data["template_id"] = task.template_id
        return ok(data)

    get = post


class SetPeriodicTaskEnabledView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER

    @extend_schema(summary="Enable or disable a periodic task (enabled defaults to false)", tags=TAGS)
    def post(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        enabled = bool_param(self.params, "enabled", False)
        task = services.set_enabled(business=self.business, task_id=task_id, enabled=enabled,
                                    editor=self.username)
        return ok({"enabled": task.enabled})

    get = post


class ModifyCronView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER

    @extend_schema(summary="Change a periodic task's cron (also while enabled)", tags=TAGS)
    def post(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        # Look the task up first so a missing task is reported as such, not as a bad cron.
        selectors.get_periodic_task(self.business, task_id)
        if self.params.get("cron") in (None, ""):
            # The original silently scheduled `* * * * *` here; refusing is safer.
            raise InvalidInput("cron is required: a dict of minute, hour, day_of_week, day_of_month, "
                             "month_of_year (each defaults to *)")
        cron = services.parse_cron_param(self.params.get("cron"))
        task = services.modify_cron(business=self.business, task_id=task_id, cron=cron, editor=self.username)
        return ok({"cron": task.cron})

    get = post


class ModifyConstantsView(ApigwView):
    http_method_names = ["post", "get"]
    required_role = Role.MAINTAINER

    @extend_schema(summary="Change values of a periodic task's constants (also while enabled)", tags=TAGS)
    def post(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        selectors.get_periodic_task(self.business, task_id)
        constants = json_param(self.params, "constants", dict) or {}
        task = services.modify_constants(business=self.business, task_id=task_id, constants=constants,
                                         editor=self.username)
        return ok(task.constants)

    get = post


class PeriodicTaskHistoryView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(summary="A periodic task's firings, newest first (offset/limit paging)", tags=TAGS)
    def get(self, request: Any, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = selectors.get_periodic_task(self.business, task_id)
        offset = int_param(self.params, "offset", 0, minimum=0)
        limit = int_param(self.params, "limit", 50, minimum=1, maximum=500)
        return ok(selectors.list_history(task, self.business, offset=offset or 0, limit=limit or 50))
