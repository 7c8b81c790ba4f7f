"""Writes on templates: each public function is one transaction."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from access_app.models import Business
from sops_common.errors import InvalidInput

from .models import TEMPLATE_NAME_MAX_LENGTH, Category, Template, TemplateSource, TemplateVersion, tree_digest


def validate_template_tree(tree: Any, business: Business | None = None, template_pk: int | None = None,
                           name: str | None = None) -> None:
    """Refuse a tree the engine would refuse, with the engine's message naming node and rule.

    SubProcess nodes that name another template are checked with that template's tree in
    place (on a copy), as a task would run them; `business` says whose templates they may name.
    """
    # Imported late: the engine's runtime imports Django models, and this
    # module is imported while apps load.
    import copy

    from pipeline_engine import api as engine
    from pipeline_engine.errors import TreeInvalid

    from .subprocesses import check_expansion, template_label, unfold_subprocesses

    if not isinstance(tree, dict):
        raise InvalidInput("pipeline_tree must be a JSON object")
    label = template_label(pk=template_pk, name=name)
    try:
        check_expansion(tree, label=label)  # before the copy: deepcopy recurses per level
        ancestors = (template_pk,) if template_pk else ()
        engine.validate_pipeline(unfold_subprocesses(copy.deepcopy(tree), business, ancestors, label=label))
    except TreeInvalid as exc:
        raise InvalidInput(f"pipeline_tree is invalid: {exc.message}") from exc


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


def _check_fields(name: str, category: str) -> None:
    if not name or len(name) > TEMPLATE_NAME_MAX_LENGTH:
        raise InvalidInput(f"template name must be 1 to {TEMPLATE_NAME_MAX_LENGTH} characters")
    if category not in Category.values:
        raise InvalidInput(f"category {category!r} is not one of {', '.join(Category.values)}")


#: template fields beside the tree that create_template may set (notifications, timeout, flow type, proxy)
TEMPLATE_SETTINGS = ("notify_type", "notify_receivers", "time_out", "default_flow_type", "executor_proxy")


@transaction.atomic
def create_template(*, name: str, pipeline_tree: dict, creator: str, business: Business | None = None,
                    category: str = Category.OTHER, description: str = "", validate: bool = True,
                    pk: int | None = None, settings: dict[str, Any] | None = None) -> Template:
    """Create a business template (or a common one when `business` is None).

    `pk` is for fixtures that must line up with documented ids (bootstrap_demo);
    on PostgreSQL the caller resets the id sequence afterwards. `settings` sets
    fields of TEMPLATE_SETTINGS; the others keep their defaults.
    """
    _check_fields(name, category)
    extra = {key: value for key, value in (settings or {}).items() if key in TEMPLATE_SETTINGS}
    if validate:
        validate_template_tree(pipeline_tree, business, name=name)
    template = Template.objects.create(
        pk=pk,
        source=TemplateSource.BUSINESS if business else TemplateSource.COMMON,
        business=business, name=name, category=category, description=description,
        creator=creator, pipeline_tree=pipeline_tree, **extra,
    )
    record_version(template, editor=creator)
    return template


@transaction.atomic
def update_template_tree(*, template: Template, pipeline_tree: dict, editor: str, validate: bool = True) -> Template:
    if validate:
        validate_template_tree(pipeline_tree, template.business, template.pk, template.name)
    template.pipeline_tree = pipeline_tree
    template.editor = editor
    template.save(update_fields=["pipeline_tree", "editor", "edit_time"])
    record_version(template, editor=editor)
    return template


@transaction.atomic
def save_template_from_admin(*, template: Template, editor: str) -> Template:
    """The admin's save: validate, store every field, and record the tree as a version.

    A new template has its creator set to the editor; an edited one gets the
    editor recorded, as an edit through the API would.
    """
    _check_fields(template.name, template.category)
    validate_template_tree(template.pipeline_tree, template.business, template.pk, template.name)
    template.source = TemplateSource.BUSINESS if template.business_id else TemplateSource.COMMON
    if template.pk is None:
        template.creator = template.creator or editor
    else:
        template.editor = editor
    template.save()
    record_version(template, editor=editor)
    return template


@transaction.atomic
def set_templates_deleted(*, templates: Iterable[Template], deleted: bool = True) -> int:
    """Soft delete (or restore): tasks keep pointing at the template's rows."""
    return Template.objects.filter(pk__in=[t.pk for t in templates]).update(is_deleted=deleted)


def _parse_import_item(index: int, item: Any) -> dict[str, Any]:
    where = f"template #{index + 1}"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: must be a JSON object with name and pipeline_tree")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{where}: name is required")
    tree = item.get("pipeline_tree")
    if not isinstance(tree, dict):
        raise InvalidInput(f"{where} ({name}): pipeline_tree must be a JSON object")
    schemes = item.get("schemes") or []
    if not isinstance(schemes, list) or not all(isinstance(s, dict) for s in schemes):
        raise InvalidInput(f"{where} ({name}): schemes must be a list of {{name, data}} objects")
    return {
        "name": name.strip(),
        "category": item.get("category") or Category.OTHER,
        "description": item.get("description") or "",
        "pipeline_tree": tree,
        "schemes": schemes,
    }


@transaction.atomic
def import_templates(*, items: Any, creator: str, business: Business | None = None) -> list[Template]:
    """Create every template in `items` (one object or a list) or none of them.

    An item may carry its execution schemes, `schemes: [{name, data, id?}]` (as export_templates
    writes them); `data` is the list of selected node ids (or its JSON text).

    The first invalid item aborts the whole import; its message names the
    item, and for a tree the node and the rule the engine reports.
    """
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise InvalidInput("expected a template object or a non-empty list of them")
    from .schemes import create_scheme

    created: list[Template] = []
    for index, raw in enumerate(items):
        item = _parse_import_item(index, raw)
        item_schemes = item.pop("schemes")
        try:
            template = create_template(business=business, creator=creator, **item)
            for scheme in item_schemes:
                create_scheme(template=template, name=scheme.get("name"), data=scheme.get("data"), creator=creator,
                              unique_id=scheme.get("id") if isinstance(scheme.get("id"), str) else None)
            created.append(template)
        except InvalidInput as exc:
            raise InvalidInput(f"template #{index + 1} ({item['name']}): {exc.message}") from exc
    return created
