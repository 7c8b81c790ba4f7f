"""Execution schemes: a template's saved node selections; saving them, reading them, and what they select.

A scheme names the template nodes a task runs. Optional nodes outside the selection are left
out; a mandatory node always runs, whatever the selection says (a scheme cannot make a task
that skips a step the template requires). Writes are one transaction each.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from sops_common.errors import InvalidInput

from .models import SCHEME_NAME_MAX_LENGTH, Template, TemplateScheme

MAX_SCHEME_NODES = 10_000


# --- validation ----------------------------------------------------------------------------------------

def parse_scheme_data(value: Any) -> list[str]:
    """The node ids of a scheme: a list of strings, or its JSON text (the original stores text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput("scheme data must be a JSON list of node ids") from exc
    if not isinstance(value, list) or not all(isinstance(i, str) and i for i in value):
        raise InvalidInput("scheme data must be a list of node ids (non-empty strings)")
    if len(value) > MAX_SCHEME_NODES:
        raise InvalidInput(f"scheme data holds at most {MAX_SCHEME_NODES} node ids")
    return list(dict.fromkeys(value))


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > SCHEME_NAME_MAX_LENGTH:
        raise InvalidInput(f"scheme name must be 1 to {SCHEME_NAME_MAX_LENGTH} characters")
    return name.strip()


# --- writes --------------------------------------------------------------------------------------------

@transaction.atomic
def create_scheme(*, template: Template, name: Any, data: Any, creator: str = "",
                  unique_id: str | None = None) -> TemplateScheme:
    """Save a scheme of `template`. `unique_id` (an imported scheme's) is kept when no scheme has it yet;
    otherwise, and by default, it is "{template_id}-{name}" (random if that is taken)."""
    name = _check_name(name)
    nodes = parse_scheme_data(data)
    if TemplateScheme.objects.filter(template=template, name=name).exists():
        raise InvalidInput(f"template[id={template.pk}] already has a scheme named {name}")
    candidates = [c for c in (unique_id, f"{template.pk}-{name}") if c and len(c) <= 255]
    for candidate in [*candidates, uuid.uuid4().hex]:
        if TemplateScheme.objects.filter(unique_id=candidate).exists():
            continue
        try:
            with transaction.atomic():
                return TemplateScheme.objects.create(template=template, name=name, data=nodes, creator=creator,
                                                     unique_id=candidate)
        except IntegrityError:  # taken between the check and the insert: try the next one
            continue
    raise InvalidInput(f"could not give the scheme {name} a unique id")


@transaction.atomic
def save_scheme_from_admin(*, scheme: TemplateScheme, editor: str) -> TemplateScheme:
    """The admin's save: the same rules as create_scheme."""
    scheme.name = _check_name(scheme.name)
    scheme.data = parse_scheme_data(scheme.data)
    if TemplateScheme.objects.filter(template=scheme.template, name=scheme.name).exclude(pk=scheme.pk).exists():
        raise InvalidInput(f"template[id={scheme.template_id}] already has a scheme named {scheme.name}")
    if not scheme.unique_id:
        scheme.unique_id = f"{scheme.template_id}-{scheme.name}"
        if TemplateScheme.objects.filter(unique_id=scheme.unique_id).exclude(pk=scheme.pk).exists():
            scheme.unique_id = uuid.uuid4().hex
    scheme.creator = scheme.creator or editor
    scheme.save()
    return scheme


# --- reads ---------------------------------------------------------------------------------------------

def export_schemes(template: Template) -> list[dict[str, Any]]:
    """The template's schemes as import_templates reads them back."""
    return [{"id": s.unique_id, "name": s.name, "data": list(s.data)} for s in template.schemes.order_by("id")]


def parse_scheme_ids(raw: Any) -> list[int | str]:
    """template_schemes_id as given: one id or a list; digits are a scheme's pk, other text its unique_id."""
    items = raw if isinstance(raw, list) else [raw]
    parsed: list[int | str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str) or item in ("", 0) or (
                isinstance(item, int) and item < 0):
            raise InvalidInput("invalid template_schemes_id: all items must be non-empty strings or positive "
                               "integers")
        parsed.append(int(item) if isinstance(item, str) and item.isdigit() else item)
    seen: set[int | str] = set()
    duplicates: list[str] = []
    for item in parsed:
        if item in seen:
            duplicates.append(str(item))
        seen.add(item)
    if duplicates:
        raise InvalidInput(f"duplicate template_schemes_id: {', '.join(dict.fromkeys(duplicates))}")
    return parsed


def schemes_of(template: Template, ids: Iterable[int | str]) -> list[TemplateScheme]:
    """The template's schemes these ids name (pks or unique_ids), in the order given; unknown ones refused."""
    ids = list(ids)
    pks = [i for i in ids if isinstance(i, int)]
    uids = [i for i in ids if isinstance(i, str)]
    found = list(TemplateScheme.objects.filter(template=template, pk__in=pks)) + \
        list(TemplateScheme.objects.filter(template=template, unique_id__in=uids))
    by_key: dict[int | str, TemplateScheme] = {}
    for scheme in found:
        by_key[scheme.pk] = by_key[scheme.unique_id] = scheme
    unknown = [str(i) for i in ids if i not in by_key]
    if unknown:
        raise InvalidInput(f"unknown template_schemes_id: {', '.join(unknown)}")
    return [by_key[i] for i in ids]


def excluded_outside(tree: dict, selected: Iterable[str]) -> list[str]:
    """The optional activities of `tree` that are not selected (mandatory ones are always kept)."""
    keep = set(selected)
    return [node_id for node_id, act in (tree.get("activities") or {}).items()
            if isinstance(act, dict) and act.get("optional") and node_id not in keep]


def scheme_constants(template: Template, scheme: TemplateScheme) -> dict[str, Any]:
    """The template's constants a task made with this scheme keeps (unreferenced ones pruned)."""
    from pipeline_engine import api
    from pipeline_engine.errors import TreeInvalid

    tree = template.pipeline_tree
    try:
        prepared = api.prepare_task_tree(tree, exclude_task_nodes_id=excluded_outside(tree, scheme.data))
    except TreeInvalid:
        return {}
    return prepared.get("constants") or {}


def list_schemes(template: Template, *, with_constants: bool = False) -> list[dict[str, Any]]:
    """get_template_schemes: each scheme's unique_id, name and data (JSON text), optionally its constants."""
    items = []
    for scheme in template.schemes.order_by("id"):
        item: dict[str, Any] = {"id": scheme.unique_id, "name": scheme.name,
                                "data": json.dumps(scheme.data, ensure_ascii=False)}
        if with_constants:
            item["detail"] = {"constants": scheme_constants(template, scheme)}
        items.append(item)
    return items
