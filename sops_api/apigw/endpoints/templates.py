"""get_template_list and get_template_info."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from sops_api.apigw.envelope import ok
from sops_api.apigw.schema import TIME, envelope_response, obj
from sops_api.apigw.views import ApigwView
from templates_app import selectors
from templates_app.models import Category

SOURCE_PARAM = OpenApiParameter("template_source", str, enum=["business", "common", "project"],
                                description="business (default) or common; project is an alias of business")
BIZ_PARAM = OpenApiParameter("bk_biz_id", str, OpenApiParameter.PATH, description="business id")
TEMPLATE_PARAM = OpenApiParameter("template_id", str, OpenApiParameter.PATH, description="template id")

SUMMARY_SCHEMA = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "category": {"type": "string", "enum": Category.values,
                 "description": "; ".join(f"{c.value}: {c.label}" for c in Category)},
    "creator": {"type": "string"},
    "create_time": TIME,
    "editor": {"type": "string", "nullable": True},
    "edit_time": TIME,
    "bk_biz_id": {"type": "string", "description": "the business id of the request path"},
    "bk_biz_name": {"type": "string"},
}
TREE_SCHEMA = obj({
    "start_event": {"type": "object"}, "end_event": {"type": "object"}, "activities": {"type": "object"},
    "gateways": {"type": "object"}, "flows": {"type": "object"},
    "constants": {"type": "object", "description": "${key} -> {key, name, index, desc, source_type, "
                                                   "custom_type, source_tag, source_info, value, ...}"},
    "outputs": {"type": "array", "items": {"type": "string"}},
}, description="the template's pipeline tree without the layout keys line and location")

LIST_EXAMPLE = OpenApiExample("business 2", response_only=True, value={
    "result": True, "code": 0, "message": "success",
    "data": [{"category": "Other", "edit_time": "2018-04-23 17:30:48 +0800",
              "create_time": "2018-04-23 17:26:40 +0800", "name": "testname", "bk_biz_id": "2",
              "creator": "admin", "bk_biz_name": "blueking", "id": 32, "editor": "admin"}],
})


class TemplateListView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(
        summary="List a business's templates (or the common ones)",
        description="Business templates of the business, or every common template with "
                    "template_source=common; deleted templates are left out. Newest first.",
        parameters=[BIZ_PARAM, SOURCE_PARAM], tags=["templates"],
        responses=envelope_response({"type": "array", "items": obj(SUMMARY_SCHEMA)}),
        examples=[LIST_EXAMPLE],
    )
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        source = selectors.parse_source(self.params.get("template_source"))
        return ok(selectors.list_templates(self.business, source))


class TemplateInfoView(ApigwView):
    http_method_names = ["get"]

    @extend_schema(
        summary="One template with its pipeline_tree",
        description="Errors: `template[id=T] of business[bk_biz_id=B] does not exist`, "
                    "`common template[id=T] does not exist` (code 3540400).",
        parameters=[TEMPLATE_PARAM, BIZ_PARAM, SOURCE_PARAM], tags=["templates"],
        responses=envelope_response(obj({
            **SUMMARY_SCHEMA, "pipeline_tree": TREE_SCHEMA,
            "description": {"type": "string"}, "version": {"type": "string"},
        })),
    )
    def get(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        source = selectors.parse_source(self.params.get("template_source"))
        template = selectors.get_template(self.business, template_id, source)
        return ok(selectors.template_info(template, self.business))


class TemplateInfoAliasView(TemplateInfoView):
    """The spec's get_template_info example calls /get_template_list/{template_id}/{bk_biz_id}/."""

    schema_operation_name = "get_template_info_by_list_path"

    @extend_schema(
        summary="get_template_info under the path the spec's example uses",
        description="Same as get_template_info: the spec's own example calls "
                    "/apigw/get_template_list/{template_id}/{bk_biz_id}/.",
        parameters=[TEMPLATE_PARAM, BIZ_PARAM, SOURCE_PARAM], tags=["templates"],
    )
    def get(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        return super().get(request, template_id, bk_biz_id)
