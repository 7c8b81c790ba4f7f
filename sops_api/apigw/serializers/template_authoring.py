"""Inputs and outputs of import_project_template, create_template and copy_template_across_project."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from sops_common import limits
from templates_app.models import Category

from .base import Input
from .common_templates import ImportResult, scope
from .fields import AnyValue, Choice, Integer, List, Object, String, named_error

__all__ = ["ImportProjectTemplateInput", "CreateTemplateInput", "CopyTemplateInput", "ImportResult",
           "CreatedTemplate"]


class ImportProjectTemplateInput(Input):
    template_data = String(allow_blank=False, error="template data can not be none", example="eyJ0ZW1wbGF0ZV9k...",
                           help_text="the export file's content: base64 of JSON {template_data, digest}")
    scope = scope()


def _notify_type(value: Any) -> Any:
    if isinstance(value, list):  # the legacy form: one list for both outcomes
        return {"success": value, "fail": value}
    if isinstance(value, dict):
        return value
    raise named_error("notify_type must be an object {success: [...], fail: [...]} or a list")


class CreateTemplateInput(Input):
    format = Choice(["json", "yaml"], required=False, default="json", example="json",
                    help_text="json (default). yaml is refused: sops reads no YAML export")
    pipeline_tree = AnyValue(error="pipeline_tree is required", schema={"type": "object"},
                             example={"start_event": {}, "end_event": {}, "activities": {}, "gateways": {},
                                      "flows": {}, "constants": {}, "outputs": []},
                             help_text="the tree (docs/pipeline-tree.md): an object, or a JSON string of one")
    name = String(required=False, example="deploy", max_length=1000,
                  help_text="<>$&'\" are removed, then cut to 50 characters; default new<YYYYmmddHHMMSS>")
    description = String(required=False, default="", example="", help_text="the template's description")
    category = Choice(Category.choices, required=False, default=Category.DEFAULT, example=Category.DEFAULT,
                      help_text="; ".join(f"{c.value}: {c.label}" for c in Category))
    notify_type = AnyValue(required=False, example={"success": [], "fail": []},
                           schema={"oneOf": [{"type": "object"}, {"type": "array"}]},
                           help_text="{success: [...], fail: [...]} (a list stands for both)")
    notify_receivers = Object(required=False, example={"receiver_group": [], "more_receiver": ""},
                              help_text="who is notified: {receiver_group: [...], more_receiver: \"a,b\"}")
    timeout = Integer(required=False, default=20, min_value=0, max_value=100_000, example=20,
                      help_text="minutes (stored as time_out)")
    default_flow_type = Choice(["common", "common_func"], required=False, default="common", example="common",
                               help_text="the flow type tasks of it default to")
    template_labels = List(child=Integer(), default=list, example=[],
                           help_text="label ids; sops has no labels, so only [] is accepted")
    executor_proxy = String(required=False, default="", max_length=128, example="",
                            help_text="kept with the template; sops always executes as the caller")
    scope = scope()

    def validate_pipeline_tree(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = limits.loads(value, "pipeline_tree")
            except ValueError as exc:
                raise named_error("pipeline_tree is not a valid JSON string") from exc
        if not isinstance(value, dict):
            raise named_error("pipeline_tree must be a JSON object")
        return value

    def validate_format(self, value: str) -> str:
        if value == "yaml":
            raise named_error("format=yaml is not supported: send the tree as JSON (format=json)")
        return value

    def validate_notify_type(self, value: Any) -> Any:
        return _notify_type(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("template_labels"):
            raise named_error("template_labels contain invalid label ids")
        return attrs


def _ids(value: list[int]) -> list[int]:
    if len(set(value)) != len(value):
        raise named_error("template_ids must not repeat an id")
    return value


class CopyTemplateInput(Input):
    new_project_id = Integer(example=3,
                             help_text="the target's project id (project_id of get_user_project_list), not its "
                                       "bk_biz_id")
    template_ids = List(child=Integer(), allow_empty=False, validators=[_ids], max_length=100, example=[1],
                        help_text="ids of live templates of the path's business, no repeats; the business "
                                  "templates their subprocesses run are copied with them (10 in all at most)")
    scope = scope()


class CreatedTemplate(serializers.Serializer):
    template_id = Integer(example=42, help_text="the new template's id")
    template_name = String(example="deploy", help_text="its name, as stored")
    pipeline_template_id = String(example="9c1d5e0f0a7b4c3e8d2f1a6b5c4d3e2f",
                                  help_text="32 hex digits: the start of the tree's version digest")
