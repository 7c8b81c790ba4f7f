"""One-off tasks from a tree the caller supplies (fast_create_task): no template, validated as a template is.

The tree goes through the same path as a template's (defaults, subprocess unfolding within the
business's reach, id regeneration, the engine's validation), so a one-off task can hold nothing a
template could not.
"""
from __future__ import annotations

import copy
from typing import Any

from django.db import transaction

from access_app.models import Business
from sops_common.errors import InvalidInput
from templates_app.models import Category, Template, TemplateSource

from . import services
from .models import TASK_NAME_MAX_LENGTH, CreateMethod, FlowType, TaskInstance

ONETIME_SOURCE = "onetime"
NAME_DROPPED_CHARS = "<>$&'\""
NODE_NAME_MAX_LENGTH = 50
INVALID_TREE = "[API] fast_create_task get invalid pipeline_tree: "


def clean_name(name: Any) -> str:
    """The original's rule: the characters <>$&'" are removed and the name cut to 100 characters."""
    if not isinstance(name, str):
        raise InvalidInput("invalid params: name must be a string")
    cleaned = "".join(c for c in name if c not in NAME_DROPPED_CHARS)[:TASK_NAME_MAX_LENGTH]
    if not cleaned.strip():
        raise InvalidInput("invalid params: name must hold at least one character other than <>$&'\"")
    return cleaned


def _subprocess_nodes(tree: dict) -> list[dict]:
    return [act for act in (tree.get("activities") or {}).values()
            if isinstance(act, dict) and act.get("type") == "SubProcess" and "pipeline" not in act]


def _check_subprocesses(tree: dict, business: Business, common: bool) -> None:
    """Every SubProcess names a template of one kind: the business's own (common=False) or common ones."""
    nodes = _subprocess_nodes(tree)
    if not nodes:
        return
    ids: list[int] = []
    for act in nodes:
        try:
            ids.append(int(str(act.get("template_id"))))
        except ValueError as exc:
            raise InvalidInput(f"{INVALID_TREE}subprocess node[id={act.get('id')}] has an invalid "
                               f"template_id[{act.get('template_id')}]") from exc
    qs = Template.objects.filter(pk__in=ids, is_deleted=False)
    qs = qs.filter(source=TemplateSource.COMMON) if common else qs.filter(business=business)
    known = set(qs.values_list("pk", flat=True))
    unknown = [str(i) for i in dict.fromkeys(ids) if i not in known]
    if unknown:
        where = "common templates" if common else "current project"
        raise InvalidInput(f"[API] fast_create_task get invalid template_id: {','.join(unknown)}, template_id "
                           f"should belong to {where}.")
    for act in nodes:
        act["template_source"] = TemplateSource.COMMON if common else TemplateSource.BUSINESS


def _normalised(tree: Any) -> dict:
    if not isinstance(tree, dict):
        raise InvalidInput(f"{INVALID_TREE}pipeline_tree must be a JSON object")
    tree = copy.deepcopy(tree)
    for key in ("gateways", "constants"):
        if tree.get(key) in (None, ""):
            tree[key] = {}
    if tree.get("outputs") in (None, ""):
        tree["outputs"] = []
    for group in ("activities", "gateways"):
        nodes = tree.get(group)
        if isinstance(nodes, dict):
            for node in nodes.values():
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    node["name"] = node["name"][:NODE_NAME_MAX_LENGTH]
    return tree


@transaction.atomic
def fast_create_task(*, business: Business, name: Any, pipeline_tree: Any, creator: str, app_code: str,
                     has_common_subprocess: bool = False, flow_type: str = FlowType.COMMON,
                     category: str = "", description: str = "") -> TaskInstance:
    """Create (not start) a task from `pipeline_tree`; its template_source is "onetime"."""
    name = clean_name(name)
    tree = _normalised(pipeline_tree)
    _check_subprocesses(tree, business, has_common_subprocess)
    if flow_type != FlowType.COMMON_FUNC:
        flow_type = FlowType.COMMON
    try:
        task = services.create_task(business=business, template=None, name=name, creator=creator,
                                    app_code=app_code, flow_type=flow_type, create_method=CreateMethod.API,
                                    description=description, pipeline_tree=tree)
    except InvalidInput as exc:
        raise InvalidInput(f"{INVALID_TREE}{exc.message}") from exc
    # A one-off task names no template; its category is the caller's when it is one of the codes.
    task.template_source = ONETIME_SOURCE
    task.category = category if category in Category.values else Category.DEFAULT
    TaskInstance.objects.filter(pk=task.pk).update(template_source=task.template_source, category=task.category)
    return task
