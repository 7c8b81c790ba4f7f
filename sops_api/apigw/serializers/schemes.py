"""Inputs and outputs of get_template_schemes (endpoints/schemes.py)."""
from __future__ import annotations

from rest_framework import serializers

from .base import Input
from .common import Constant
from .fields import Boolean, Object, String
from .templates import template_source


class TemplateSchemesInput(Input):
    template_source = template_source()
    with_constants = Boolean(default=False, example=True,
                             help_text="true: each scheme carries detail.constants, the template's variables a task "
                                       "made with the scheme keeps")


class SchemeDetail(serializers.Serializer):
    constants = Object(child=Constant(), example={}, help_text="{${key}: constant} the scheme's task keeps")


class TemplateScheme(serializers.Serializer):
    id = String(example="1-nightly", help_text='the scheme\'s id, "{template_id}-{name}" (imported schemes keep '
                                               "theirs): what create_task's template_schemes_id takes")
    name = String(example="nightly", help_text="the scheme's name")
    data = String(example='["nodea5c396a3ef0f9f3cd7d4d7695f78"]',  # type: ignore[assignment]  # a field named like Serializer.data
                  help_text="JSON text of the list of template node ids the scheme selects")
    detail = SchemeDetail(required=False, help_text="only with with_constants=true")
