"""get_user_project_list and get_user_project_detail: the caller's businesses, seen as projects."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app import projects
from sops_api.apigw.envelope import ok
from sops_api.apigw.scope import ScopedBusinessMixin
from sops_api.apigw.serializers import projects as io
from sops_api.apigw.views import ApigwView

TAGS = ["projects"]


class UserProjectListView(ApigwView):
    http_method_names = ["get"]
    business_kwarg = None
    input_serializer = io.UserProjectListInput
    output_serializer = io.UserProject(many=True)

    @extend_schema(summary="The businesses the caller holds a role in", tags=TAGS,
                   description="Every business for a superuser. project_id is the business's internal id "
                               "(scope=project takes it), bk_biz_id its business id. The caller's own view, "
                               "whatever the app.")
    def get(self, request) -> JsonResponse:
        return ok(projects.user_projects(self.caller.user,
                                         include_executor_proxy=self.input["include_executor_proxy"]))


class UserProjectDetailView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["get"]
    input_serializer = io.UserProjectDetailInput
    output_serializer = io.UserProjectDetail

    @extend_schema(summary="One business, its members by role, and what the caller may do", tags=TAGS,
                   description="Needs a role in the business. Members stand in for the CMDB role lists: "
                               "maintainers are bk_biz_maintainer, operators bk_biz_developer, viewers "
                               "bk_biz_tester.")
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(projects.project_detail(self.caller.user, self.business,
                                          include_executor_proxy=self.input["include_executor_proxy"],
                                          include_staff_groups=self.input["include_staff_groups"]))
