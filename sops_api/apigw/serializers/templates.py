"""Inputs and outputs of get_template_list and get_template_info."""
from __future__ import annotations

from rest_framework import serializers

from sops_common.errors import InvalidInput
from templates_app.models import Category, TemplateSource
from templates_app.selectors import parse_source

from .base import Input
from .common import PipelineTree
from .fields import Integer, Parsed, String, Time

SOURCE_SCHEMA = {"type": "string", "enum": [*TemplateSource.values, "project", ""], "default": TemplateSource.BUSINESS}


def _source(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"template_source must be business or common, not {value!r}")
    return parse_source(value)


def template_source(**kwargs) -> Parsed:
    """`template_source`: business (the default) or common; project is read as business."""
    kwargs.setdefault("required", False)
    return Parsed(_source, default=TemplateSource.BUSINESS, schema=SOURCE_SCHEMA, example="business",
                  help_text="business (default): a template of the business in the path; common: a common "
                            "template; project is accepted as business", **kwargs)


class TemplateQueryInput(Input):
    template_source = template_source()


class TemplateSummary(serializers.Serializer):
    """A template as get_template_list lists it."""

    id = Integer(help_text="template id", example=32)
    name = String(help_text="template name", example="testname")
    category = String(schema={"enum": Category.values}, example="Other",
                      help_text="; ".join(f"{c.value}: {c.label}" for c in Category))
    creator = String(example="admin", help_text="who created it")
    create_time = Time()
    editor = String(allow_null=True, example="admin", help_text="last editor; null when never edited")
    edit_time = Time()
    bk_biz_id = String(help_text="the business id of the request path, as a string", example="2")
    bk_biz_name = String(help_text="the business's name", example="blueking")


class TemplateInfo(TemplateSummary):
    """A template with its tree (the web editor's layout keys `line` and `location` removed)."""

    pipeline_tree = PipelineTree()
    description = String(example="", help_text="the template's description")
    version = String(example="9c1d5e0f...", help_text="digest of the tree: it changes whenever the tree does")
