"""Writes on templates: each function is one transaction."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from sops_api.apigw.errors import BadRequest

from .models import Business, Category, Template, TemplateSource, TemplateVersion, tree_digest


def validate_template_tree(tree: Any) -> None:
    """Refuse a tree the engine would refuse, with the engine's message naming node and rule."""
    from pipeline_engine import api as engine
    from pipeline_engine.errors import TreeInvalid

    if not isinstance(tree, dict):
        raise BadRequest("pipeline_tree must be a JSON object")
    try:
        engine.validate_pipeline(tree)
    except TreeInvalid as exc:
        raise BadRequest(f"pipeline_tree is invalid: {exc.message}") from exc


def record_version(template: Template, editor: str = "") -> TemplateVersion:
    """Keep the current tree as a version (idempotent for an unchanged tree)."""
    digest = tree_digest(template.pipeline_tree)
    version, _ = TemplateVersion.objects.get_or_create(
        template=template, digest=digest,
        defaults={"pipeline_tree": template.pipeline_tree, "editor": editor},
    )
    if template.version != digest:
        Template.objects.filter(pk=template.pk).update(version=digest)
        template.version = digest
    return version


@transaction.atomic
def create_template(*, name: str, pipeline_tree: dict, creator: str, business: Business | None = None,
                    category: str = Category.OTHER, description: str = "", validate: bool = True) -> Template:
    if not name or len(name) > 100:
        raise BadRequest("template name must be 1 to 100 characters")
    if category not in Category.values:
        raise BadRequest(f"category {category!r} is not one of {', '.join(Category.values)}")
    if validate:
        validate_template_tree(pipeline_tree)
    template = Template.objects.create(
        source=TemplateSource.BUSINESS if business else TemplateSource.COMMON,
        business=business, name=name, category=category, description=description,
        creator=creator, pipeline_tree=pipeline_tree,
    )
    record_version(template, editor=creator)
    return template


@transaction.atomic
def update_template_tree(*, template: Template, pipeline_tree: dict, editor: str, validate: bool = True) -> Template:
    if validate:
        validate_template_tree(pipeline_tree)
    template.pipeline_tree = pipeline_tree
    template.editor = editor
    template.save(update_fields=["pipeline_tree", "editor", "edit_time"])
    record_version(template, editor=editor)
    return template
