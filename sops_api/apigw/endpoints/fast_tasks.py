"""fast_create_task: a one-off task from a tree the caller supplies, with no template."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.models import Role
from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import fast_tasks as io
from sops_api.apigw.serializers.tasks import CreatedTask
from sops_api.apigw.views import ApigwView
from tasks_app import onetime

TAGS = ["tasks"]


class FastCreateTaskView(ApigwView):
    http_method_names = ["post"]
    required_role = Role.OPERATOR
    input_serializer = io.FastCreateTaskInput
    output_serializer = CreatedTask

    @extend_schema(summary="Create a one-off task from a pipeline_tree (no template)", tags=TAGS,
                   description="The task is created, not started (start_task starts it); its template_source is "
                               "onetime. Errors (3540000): `[API] fast_create_task get invalid pipeline_tree: "
                               "...`, `[API] fast_create_task get invalid template_id: 12,13, template_id should "
                               "belong to current project.`, `invalid params: ...`.")
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        given = self.input
        task = onetime.fast_create_task(
            business=self.business, name=given["name"], pipeline_tree=given["pipeline_tree"],
            creator=self.username, app_code=self.caller.app.app_code,
            has_common_subprocess=given["has_common_subprocess"], flow_type=given["flow_type"],
            category=given["category"], description=given["description"])
        return ok({"task_id": task.pk, "task_url": task.url, "pipeline_tree": task.pipeline_tree})
