"""The project's URLs plus two test-only endpoints (role check, unexpected error)."""
from __future__ import annotations

from django.urls import path

from access_app.models import Role
from sops_api.apigw.envelope import ok
from sops_api.apigw.views import ApigwView
from sops_api.urls import urlpatterns as project_urls


class OperatorOnlyView(ApigwView):
    http_method_names = ["get", "post"]
    required_role = Role.OPERATOR

    def get(self, request, bk_biz_id: str):
        return ok({"user": self.username, "role": self.caller.role, "params": sorted(self.params)})

    def post(self, request, bk_biz_id: str):
        return ok({"user": self.username, "role": self.caller.role,
                   "params": {k: v for k, v in self.params.items() if not k.endswith(("secret", "token"))}})


class PostOnlyView(ApigwView):
    http_method_names = ["post"]

    def post(self, request, bk_biz_id: str):
        return ok("posted")


class ExplodingView(ApigwView):
    http_method_names = ["get"]

    def get(self, request, bk_biz_id: str):
        raise RuntimeError("secret internal detail /etc/passwd")


urlpatterns = [
    path("apigw/test_operator_only/<str:bk_biz_id>/", OperatorOnlyView.as_view(), name="test_operator_only"),
    path("apigw/test_post_only/<str:bk_biz_id>/", PostOnlyView.as_view(), name="test_post_only"),
    path("apigw/test_explode/<str:bk_biz_id>/", ExplodingView.as_view(), name="test_explode"),
    *project_urls,
]
