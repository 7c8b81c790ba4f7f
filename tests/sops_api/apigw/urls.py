"""The project's URLs plus test-only endpoints (role check, unexpected error, input validation order)."""
from __future__ import annotations

from django.urls import path

from access_app.models import Role
from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import fields
from sops_api.apigw.serializers.base import Input
from sops_api.apigw.views import ApigwView
from sops_api.urls import urlpatterns as project_urls
from sops_common.errors import NotFound


class CountInput(Input):
    count = fields.Integer(min_value=1, max_value=3)


class InputFirstView(ApigwView):
    """Validates `count` before the handler runs (which would answer not found)."""

    http_method_names = ["get"]
    input_serializer = CountInput

    def get(self, request, bk_biz_id: str):
        raise NotFound("the handler ran")


class LookupFirstView(InputFirstView):
    """Looks its object up first: an absent object is reported before a bad `count`."""

    validate_input_first = False

    def get(self, request, bk_biz_id: str):
        if self.params.get("exists") != "yes":
            raise NotFound("no such object")
        return ok(self.input)


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
    path("apigw/test_input_first/<str:bk_biz_id>/", InputFirstView.as_view(), name="test_input_first"),
    path("apigw/test_lookup_first/<str:bk_biz_id>/", LookupFirstView.as_view(), name="test_lookup_first"),
    *project_urls,
]
