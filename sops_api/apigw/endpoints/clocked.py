"""create_clocked_task and get_clocked_task_list: a task that starts once at a planned time."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import ROLE_RANK, Role
from clocked_app import selectors, services
from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import clocked as io
from sops_api.apigw.views import ApigwView
from templates_app import selectors as template_selectors
from templates_app.models import TemplateSource

TAGS = ["clocked tasks"]


class CreateClockedTaskView(ApigwView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.CreateClockedTaskInput
    output_serializer = io.ClockedTask
    # As the original: a missing template is reported before a bad parameter.
    validate_input_first = False

    @extend_schema(summary="Plan one run of a business template at a given time", tags=TAGS,
                   description="The scheduler creates and starts the task once, at plan_start_time (the first "
                               "tick after it, after downtime too), as the plan's creator. Errors: the template "
                               "is not found (3540400); `plan_start_time is invalid: Plan start time should be "
                               "later than the time to create the plan`, `task_parameters: can not use multiple "
                               "method to appoint execute nodes ...`, constants referring to themselves or in a "
                               "cycle (3540000).")
    def post(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        template = template_selectors.get_template(self.business, template_id, TemplateSource.BUSINESS)
        given = self.input
        plan = services.create_clocked_task(
            business=self.business, template=template, task_name=given["task_name"],
            plan_start_time=given["plan_start_time"], task_parameters=given["task_parameters"],
            creator=self.username)
        return ok(selectors.clocked_task_data(plan))


def auth_actions(role: str | None) -> list[str]:
    actions = ["clocked_task_view", "flow_view"]
    if role in ROLE_RANK and ROLE_RANK[Role(role)] >= ROLE_RANK[Role.OPERATOR]:
        actions[1:1] = ["clocked_task_edit", "clocked_task_delete"]
    return actions


class ClockedTaskListView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.ClockedTaskListInput
    output_serializer = io.ClockedTaskItem(many=True)
    envelope_extra = {"count": {"type": "integer", "example": 1, "description": "plans matching the filters "
                                                                              "(before paging)"}}

    @extend_schema(summary="A business's clocked tasks, newest first, paginated", tags=TAGS)
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        items, count = selectors.list_clocked_tasks(self.business, **self.input,
                                                    auth_actions=auth_actions(self.caller.role))
        return ok(items, count=count)
