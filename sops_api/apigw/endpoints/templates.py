"""get_template_list and get_template_info."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import templates as io
from sops_api.apigw.views import ApigwView
from templates_app import selectors

TAGS = ["templates"]


class TemplateListView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.TemplateQueryInput
    output_serializer = io.TemplateSummary(many=True)

    @extend_schema(
        summary="List a business's templates (or the common ones)",
        description="Business templates of the business, or every common template with "
                    "template_source=common; deleted templates are left out. Newest first.",
        tags=TAGS,
    )
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(selectors.list_templates(self.business, self.input["template_source"]))


class TemplateInfoView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.TemplateQueryInput
    output_serializer = io.TemplateInfo

    @extend_schema(
        summary="One template with its pipeline_tree",
        description="Errors: `template[id=T] of business[bk_biz_id=B] does not exist`, "
                    "`common template[id=T] does not exist` (code 3540400).",
        tags=TAGS,
    )
    def get(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        template = selectors.get_template(self.business, template_id, self.input["template_source"])
        return ok(selectors.template_info(template, self.business))


class TemplateInfoAliasView(TemplateInfoView):
    """The spec's get_template_info example calls /get_template_list/{template_id}/{bk_biz_id}/."""

    schema_operation_name = "get_template_info_by_list_path"

    @extend_schema(
        summary="get_template_info under the path the spec's example uses",
        description="Same as get_template_info: the spec's own example calls "
                    "/apigw/get_template_list/{template_id}/{bk_biz_id}/.",
        tags=TAGS,
    )
    def get(self, request, template_id: str, bk_biz_id: str) -> JsonResponse:
        return super().get(request, template_id, bk_biz_id)
