"""Inputs and outputs of the common-template endpoints (common_templates.py): list, info, preview, import."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from sops_api.apigw.scope import SCOPE_HELP
from sops_common.timefmt import expected_zone
from templates_app.models import Category

from .base import Input
from .common import Constant, PipelineTree
from .fields import Boolean, Choice, Integer, List, Object, Parsed, String, Time, named_error

ACCEPTED_IGNORED = "accepted for the original's clients and validated, but ignored (as by the original)"




def scope() -> Choice:
    return Choice(["cmdb_biz", "project"], required=False, default="cmdb_biz", example="cmdb_biz",
                  help_text=SCOPE_HELP)


class Flag(Boolean):
    """An optional boolean of the original's DRF serializers, which refuse an empty value."""

    blank_is_absent = False

    def to_internal_value(self, data: Any) -> bool:
        if data == "":
            raise named_error(f"{self.name} must be a boolean")
        return super().to_internal_value(data)


def flag(help_text: str) -> Flag:
    return Flag(required=False, default=False, example=False, help_text=help_text)


class CommonTemplateListInput(Input):
    include_notify = flag("add notify_type and notify_receivers to each item")
    expected_timezone = Parsed(expected_zone, required=False, schema={"type": "string"}, example="Asia/Shanghai",
                               help_text="an IANA time zone for the times (default: the server's)")
    include_executor_proxy = flag(ACCEPTED_IGNORED)
    include_subprocess = flag(ACCEPTED_IGNORED)
    include_constants = flag(ACCEPTED_IGNORED)
    include_labels = flag(ACCEPTED_IGNORED)


class CommonTemplateInfoInput(Input):
    include_subprocess = flag("add has_subprocess and subprocess_has_update")
    include_constants = flag("add template_constants: the variables the tree uses")
    include_notify = flag("add notify_type and notify_receivers")
    include_executor_proxy = flag(ACCEPTED_IGNORED)
    include_labels = flag(ACCEPTED_IGNORED)
    unfold_subprocess = flag(ACCEPTED_IGNORED)


class PreviewCommonTaskTreeInput(Input):
    version = String(required=False, default="", example="",
                     help_text="the template version (its `version` digest) to preview; default the current one")
    exclude_task_nodes_id = List(child=String(allow_blank=False), default=list, error="invalid exclude_task_nodes_id",
                                 example=["nodea5c396a3ef0f9f3cd7d4d7695f78"],
                                 help_text="template node ids to leave out; each must be optional")
    scope = scope()


class ImportCommonTemplateInput(Input):
    template_data = String(allow_blank=False, error="template data can not be none", example="eyJ0ZW1wbGF0ZV9k...",
                           help_text="the export file's content: base64 of JSON {template_data, digest}")
    override = Boolean(required=False, default=False, example=False,
                       help_text="overwrite the common templates that carry the file's ids (the others are "
                                 "created under new ids)")


# --- outputs -------------------------------------------------------------------------------------------

NOTIFY_TYPE_SCHEMA = {"type": "object", "properties": {"success": {"type": "array", "items": {"type": "string"}},
                                                       "fail": {"type": "array", "items": {"type": "string"}}}}


class CommonTemplateSummary(serializers.Serializer):
    id = Integer(example=100, help_text="common template id")
    name = String(example="Rotate logs", help_text="template name")
    category = String(schema={"enum": Category.values}, example="OpsTools",
                      help_text="; ".join(f"{c.value}: {c.label}" for c in Category))
    creator = String(example="admin", help_text="who created it")
    create_time = Time(help_text="YYYY-mm-dd HH:MM:SS +zzzz in expected_timezone or the server's zone")
    editor = String(allow_null=True, example=None, help_text="last editor; null when never edited")
    edit_time = Time(help_text="YYYY-mm-dd HH:MM:SS +zzzz in expected_timezone or the server's zone")
    description = String(example="", help_text="the template's description")
    notify_type = Object(required=False, schema=NOTIFY_TYPE_SCHEMA, example={"success": [], "fail": []},
                         help_text="with include_notify")
    notify_receivers = Object(required=False, example={"receiver_group": [], "more_receiver": ""},
                              help_text="with include_notify")


class CommonTemplateListItem(CommonTemplateSummary):
    auth_actions = List(child=String(), example=["common_flow_view", "common_flow_create_task"],
                        help_text="what the user may do: common_flow_view (a role in any business), "
                                  "common_flow_create_task (operator somewhere), common_flow_create_periodic_task "
                                  "(maintainer somewhere); create/edit/delete for superusers only")


class TemplateConstant(serializers.Serializer):
    name = String(example="Host", help_text="the variable's display name")
    key = String(example="${host}", help_text="its key, ${key}")
    show_type = String(example="show", help_text="show (in the form) or hide")
    constant_type = String(example="节点输入", help_text="节点输入 for a node's input, else the variable type's name")
    activity_count = Integer(example=2, help_text="how many nodes use it")


class CommonTemplateInfo(CommonTemplateSummary):
    pipeline_tree = PipelineTree(help_text="the tree, layout removed; every constant has a `schema` "
                                           "(a JSON schema for custom and node-input variables, else null)")
    has_subprocess = Boolean(required=False, example=False, help_text="with include_subprocess")
    subprocess_has_update = Boolean(required=False, example=False,
                                    help_text="with include_subprocess: a subprocess node pins an old version")
    template_constants = List(required=False, child=TemplateConstant(), example=[],
                              help_text="with include_constants: the variables the tree uses")


class CommonTaskTreePreview(serializers.Serializer):
    pipeline_tree = PipelineTree(help_text="the tree with the nodes left out (template node ids kept)")
    constants_not_referred = Object(child=Constant(), example={}, help_text="constants the tree no longer uses")


class ImportResult(serializers.Serializer):
    count = Integer(example=2, help_text="templates in the file, the subprocess templates it carries included")
    flows = Object(child=String(), example={"101": "Rotate logs"},
                   help_text="{template id: name} of the templates created (or overwritten)")
