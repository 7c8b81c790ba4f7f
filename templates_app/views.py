"""get_template_list and get_template_info."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema

from sops_api.apigw.envelope import ok
from sops_api.apigw.views import ApigwView

from . import selectors

SOURCE_PARAM = OpenApiParameter("template_source", str, enum=["business", "common"],
                                description="business (default) or common")


class TemplateListView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(summary="List a business's templates", parameters=[SOURCE_PARAM], tags=["templates"])
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        source = selectors.parse_source(self.params.get("template_source"))
        return ok(selectors.list_templates(self.business, source))


class TemplateInfoView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(summary="One template with its pipeline_tree", parameters=[SOURCE_PARAM], tags=["templates"])
    def get(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        source = selectors.parse_source(self.params.get("template_source"))
        template = selectors.get_template(self.business, template_id, source)
        return ok(selectors.template_info(template, self.business))
