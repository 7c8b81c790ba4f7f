"""Inputs and outputs of get_plugin_list, get_plugin_detail and get_plugin_base_info (plugins.py)."""
from __future__ import annotations

from rest_framework import serializers

from .base import Input
from .common_templates import scope
from .fields import Boolean, List, Object, String

FIELD_SCHEMA_HELP = "a JSON schema of the field: type, description, enum ([]); properties or items where known"


class PluginListInput(Input):
    scope = scope()


class PluginDetailInput(Input):
    code = String(allow_blank=False, error="parameter code need to be provided.", example="sleep_timer",
                  help_text="the plugin's code")
    version = String(required=False, default="legacy", allow_blank=False, example="legacy",
                     help_text="its version; legacy (default) means the code's default version")
    scope = scope()


class PluginInput(serializers.Serializer):
    name = String(example="Timing", help_text="the field's display name")
    key = String(example="bk_timing", help_text="its key in the node's component data")
    type = String(example="string", help_text="the field's type as the plugin declares it")
    required = Boolean(example=True, help_text="whether a node must give it")  # type: ignore[assignment]  # a field named like Field.required
    schema = Object(example={"type": "string", "description": "", "enum": []}, help_text=FIELD_SCHEMA_HELP)


class PluginOutput(serializers.Serializer):
    name = String(example="Status code", help_text="the output's display name")
    key = String(example="status_code", help_text="its key in the node's outputs")
    type = String(example="int", help_text="its type as the plugin declares it")
    schema = Object(example={"type": "integer", "description": "", "enum": []}, help_text=FIELD_SCHEMA_HELP)


class PluginBaseInfo(serializers.Serializer):
    code = String(example="sleep_timer", help_text="the plugin's code")
    name = String(example="Timer", help_text="its display name")


class Plugin(PluginBaseInfo):
    version = String(example="legacy", help_text="the plugin's version (legacy when it has none)")
    group = String(example="BK", help_text="the group's code (BK, JOB, or a plugin's own)")
    group_name = String(example="蓝鲸服务(BK)", help_text="the group's display name")
    desc = String(example="", help_text="what it does")
    form = String(example="", help_text='the original\'s form script URL; sops has no web forms: ""')
    inputs = List(child=PluginInput(), example=[], help_text="the fields a node gives it")
    outputs = List(child=PluginOutput(), example=[], help_text="what it writes into the node's outputs")
