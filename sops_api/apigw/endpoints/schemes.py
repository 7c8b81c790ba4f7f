"""get_template_schemes: a template's execution schemes (saved node selections for create_task)."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import schemes as io
from sops_api.apigw.views import ApigwView
from templates_app import schemes, selectors

TAGS = ["templates"]


class TemplateSchemesView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.TemplateSchemesInput
    output_serializer = io.TemplateScheme(many=True)

    @extend_schema(summary="A template's execution schemes (named node selections)", tags=TAGS,
                   description="Oldest first. `id` is what create_task's template_schemes_id takes. Errors: the "
                               "template is not found or deleted (3540400).")
    def get(self, request, bk_biz_id: str, template_id: str) -> JsonResponse:
        given = self.input
        template = selectors.get_template(self.business, template_id, given["template_source"])
        return ok(schemes.list_schemes(template, with_constants=given["with_constants"]))
