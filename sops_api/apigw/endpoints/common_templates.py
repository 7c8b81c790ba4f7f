"""get_common_template_list, get_common_template_info, preview_common_task_tree, import_common_template."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from access_app.trust import require_trusted
from sops_api.apigw.envelope import ok
from sops_api.apigw.scope import ScopedBusinessMixin
from sops_api.apigw.serializers import common_templates as io
from sops_api.apigw.views import ApigwView
from tasks_app import selectors as task_selectors
from templates_app import common_templates as selectors
from templates_app import importing

TAGS = ["common templates"]
COMMON_ACCESS = ("Common templates belong to no business: a user with a role in any business may read them "
                 "(a superuser too); others are refused (3540100).")


class CommonTemplateListView(ApigwView):
    http_method_names = ["get"]
    business_kwarg = None
    input_serializer = io.CommonTemplateListInput
    output_serializer = io.CommonTemplateListItem(many=True)

    @extend_schema(summary="List every common template", tags=TAGS,
                   description=f"Live common templates, newest first, no paging. {COMMON_ACCESS}")
    def get(self, request) -> JsonResponse:
        return ok(selectors.list_common_templates(self.caller.user, include_notify=self.input["include_notify"],
                                                  tz=self.input.get("expected_timezone")))


class CommonTemplateInfoView(ApigwView):
    http_method_names = ["get"]
    business_kwarg = None
    input_serializer = io.CommonTemplateInfoInput
    output_serializer = io.CommonTemplateInfo
    validate_input_first = False

    @extend_schema(summary="One common template with its tree", tags=TAGS,
                   description="Errors: `common template[id=T] does not exist` (3540400; deleted templates "
                               f"count as missing). {COMMON_ACCESS} Times are in the server's zone.")
    def get(self, request, template_id: str) -> JsonResponse:
        selectors.require_common_access(self.caller.user)
        template = selectors.get_common_template(template_id)
        return ok(selectors.common_template_info(
            self.caller.user, template, include_subprocess=self.input["include_subprocess"],
            include_constants=self.input["include_constants"], include_notify=self.input["include_notify"]))


class PreviewCommonTaskTreeView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["post"]
    input_serializer = io.PreviewCommonTaskTreeInput
    output_serializer = io.CommonTaskTreePreview

    @extend_schema(summary="The tree a task from a common template would get with these nodes excluded",
                   tags=TAGS,
                   description="Needs a role in the path's business (the task would be created there). Errors: "
                               "`common template[id=T] does not exist`, an unknown `version` (3540400); "
                               "`task node[id=X] is not in template pipeline tree`, `task node[id=X] is not "
                               "optional`, `invalid exclude_task_nodes_id` (3540000).")
    def post(self, request, bk_biz_id: str, template_id: str) -> JsonResponse:
        template = selectors.get_common_template(template_id)
        # Previewing another version: the instance is read, never saved.
        template.pipeline_tree = selectors.tree_of_version(template, self.input["version"])
        return ok(task_selectors.preview_tree(self.business, template, self.input["exclude_task_nodes_id"]))


class ImportCommonTemplateView(ApigwView):
    http_method_names = ["post"]
    business_kwarg = None
    input_serializer = io.ImportCommonTemplateInput
    output_serializer = io.ImportResult
    validate_input_first = False

    @extend_schema(summary="Import common templates from an export file (trusted apps only)", tags=TAGS,
                   description="Only trusted apps may call it (the original's whitelist and APP_WHITELIST; "
                               "otherwise `you have no permission to call this api.`, 3540100). The file is "
                               "the original's export (base64 of {template_data, digest}); every template, the "
                               "subprocess templates it carries included, is validated and created in one "
                               "transaction, or none. Errors: `template data can not be none`, an unreadable "
                               "or tampered file (`模板解析失败: ...`), an invalid tree (3540000); override with "
                               "a project file (3545000).")
    def post(self, request) -> JsonResponse:
        require_trusted(self.caller.app)
        result = importing.import_exchange(content=self.input["template_data"], creator=self.username,
                                           override=self.input["override"])
        return ok(result, message=f"Successfully imported {result['count']} flows")
