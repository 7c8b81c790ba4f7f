"""SubProcess nodes that name another template: find it and put its tree in place.

A template refers to a subprocess by `template_id` (and optionally a `version`
digest). Validation of the template and the creation of a task both need the
referenced trees inline (`pipeline`), so the unfolding lives here, beside the
templates it reads.
"""
from __future__ import annotations

import copy
from typing import Any

from sops_api.apigw.errors import BadRequest

from .models import Business, Template, TemplateSource, TemplateVersion

SUB_PROCESS = "SubProcess"
SUBPROCESS_MAX_DEPTH = 8


def _subprocess_template(business: Business | None, act: dict) -> Template:
    raw = act.get("template_id")
    try:
        pk = int(str(raw))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"subprocess node[id={act.get('id')}] has an invalid template_id[{raw}]") from exc
    source = act.get("template_source") or TemplateSource.BUSINESS
    qs = Template.objects.filter(pk=pk, is_deleted=False)
    # A business template may use its business's templates and common ones; never another
    # business's. A common template (business None) may only use common ones.
    template = (qs.filter(business=business).first() if business is not None else None) \
        or qs.filter(source=TemplateSource.COMMON).first()
    if template is None:
        where = "common template" if source == TemplateSource.COMMON or business is None else \
            f"template of business[bk_biz_id={business.bk_biz_id}]"
        raise BadRequest(f"subprocess node[id={act.get('id')}] refers to {where}[id={pk}] that does not exist")
    return template


def _subprocess_tree(template: Template, version: Any) -> dict:
    if version:
        snapshot = TemplateVersion.objects.filter(template=template, digest=str(version)).first()
        if snapshot is not None:
            return copy.deepcopy(snapshot.pipeline_tree)
    # An unknown or missing version falls back to the current tree rather than refusing.
    return copy.deepcopy(template.pipeline_tree)


def unfold_subprocesses(tree: dict, business: Business | None, ancestors: tuple[int, ...] = ()) -> dict:
    """Put each SubProcess node's template tree into its `pipeline`, recursively, in place.

    The node's own `constants` (the values the parent gives the child) overwrite the
    child's. Nodes that already carry a `pipeline` (a periodic snapshot) are left alone.
    `ancestors` are the templates the tree already sits in (a template being saved is its
    own ancestor): naming one of them would make the template include itself.
    """
    for act in (tree.get("activities") or {}).values():
        if act.get("type") != SUB_PROCESS or isinstance(act.get("pipeline"), dict):
            continue
        template = _subprocess_template(business, act)
        if template.pk in ancestors or len(ancestors) >= SUBPROCESS_MAX_DEPTH:
            raise BadRequest(f"subprocess node[id={act.get('id')}] makes template[id={template.pk}] "
                             f"include itself or nests deeper than {SUBPROCESS_MAX_DEPTH} levels")
        child = _subprocess_tree(template, act.get("version"))
        child.pop("form", None)
        child_constants = child.setdefault("constants", {})
        for key, given in (act.get("constants") or {}).items():
            if key in child_constants and isinstance(given, dict):
                child_constants[key] = {**child_constants[key], "value": given.get("value")}
            elif isinstance(given, dict):
                child_constants[key] = copy.deepcopy(given)
        unfold_subprocesses(child, business, (*ancestors, template.pk))
        act["pipeline"] = child
    return tree
