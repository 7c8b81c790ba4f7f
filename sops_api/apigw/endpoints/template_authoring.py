"""import_project_template, create_template and copy_template_across_project."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.authorization import authorize
from access_app.models import Business, Role
from access_app.projects import PROJECT, get_business_in_scope
from access_app.trust import require_trusted
from sops_api.apigw.envelope import ok
from sops_api.apigw.scope import ScopedBusinessMixin
from sops_api.apigw.serializers import template_authoring as io
from sops_api.apigw.views import ApigwView
from templates_app import importing

TAGS = ["template authoring"]


class ImportProjectTemplateView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["post"]
    required_role = Role.MAINTAINER
    input_serializer = io.ImportProjectTemplateInput
    output_serializer = io.ImportResult
    validate_input_first = False

    @extend_schema(summary="Import templates from an export file into a business", tags=TAGS,
                   description="Needs the maintainer role in the business, and a trusted app (the original's "
                               "whitelist and APP_WHITELIST) or a limited one (BKAPP_ALLOWED_LIMITED_API_APPS); "
                               "otherwise `you have no permission to call this api.` (3540100). Every template "
                               "of the file is validated and created in one transaction, or none; business "
                               "selectors in the trees are set to this business.")
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        require_trusted(self.caller.app, limited_too=True)
        result = importing.import_exchange(content=self.input["template_data"], creator=self.username,
                                           business=self.business)
        return ok(result, message=f"Successfully imported {result['count']} flows")


class CreateTemplateView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["post"]
    required_role = Role.MAINTAINER
    input_serializer = io.CreateTemplateInput
    output_serializer = io.CreatedTemplate

    @extend_schema(summary="Create a business template from a tree", tags=TAGS,
                   description="Needs the maintainer role. The tree is validated as the admin validates it "
                               "(3540000 naming the node and rule otherwise) and recorded as the template's first "
                               "version. Names (template and nodes) lose <>$&'\" and are cut to 50 characters.")
    def perform_content_negotiation(self, request, force=False):
        # `format` is this endpoint's own parameter (json or yaml), not DRF's renderer override,
        # which would answer an unknown value with a 404 from inside the negotiation.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    def post(self, request, bk_biz_id: str) -> JsonResponse:
        data = self.input
        template = importing.author_template(
            business=self.business, pipeline_tree=data["pipeline_tree"], creator=self.username,
            name=data.get("name"), description=data["description"], category=data["category"],
            settings={"notify_type": data.get("notify_type", {"success": [], "fail": []}),
                      "notify_receivers": data.get("notify_receivers",
                                                   {"receiver_group": [], "more_receiver": ""}),
                      "time_out": data["timeout"], "default_flow_type": data["default_flow_type"],
                      "executor_proxy": data["executor_proxy"]})
        return ok({"template_id": template.pk, "template_name": template.name,
                   "pipeline_template_id": template.version[:32]})


class CopyTemplateAcrossProjectView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["post"]
    required_role = Role.MAINTAINER
    input_serializer = io.CopyTemplateInput
    output_serializer = io.ImportResult

    @extend_schema(summary="Copy templates of this business into another one", tags=TAGS,
                   description="Needs the maintainer role in BOTH businesses (the path's and new_project_id's) "
                               "and a trusted app. The templates are copied with the business templates their "
                               "subprocesses run (at most 10 in all: `only 10 templates can be copied once.`, "
                               "3545000); common subprocesses stay shared. One transaction.")
    def post(self, request, bk_biz_id: str) -> JsonResponse:
        target = self._target()
        require_trusted(self.caller.app)
        result = importing.copy_templates(source=self.business, target=target,
                                          template_ids=self.input["template_ids"], creator=self.username)
        return ok(result, message=f"Successfully imported {result['count']} flows")

    def _target(self) -> Business:
        target = get_business_in_scope(self.input["new_project_id"], PROJECT)
        authorize(self.caller.user, target, Role.MAINTAINER)
        return target
