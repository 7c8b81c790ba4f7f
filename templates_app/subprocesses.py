"""SubProcess nodes that name another template: which template, and which of its trees.

A template refers to a subprocess by `template_id` (and optionally a `version`
digest). Validation of the template and the creation of a task both need the
referenced trees inline (`pipeline`). The engine does the unfolding
(`pipeline_engine.api.unfold_subprocesses`); this module only finds the
templates it asks for, with the business's rules on which it may use.
"""
from __future__ import annotations

import copy
from functools import partial
from typing import Any

from access_app.models import Business
from sops_common.errors import InvalidInput

from .models import Template, TemplateSource, TemplateVersion


def _subprocess_template(business: Business | None, act: dict) -> Template:
    raw = act.get("template_id")
    try:
        pk = int(str(raw))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"subprocess node[id={act.get('id')}] has an invalid template_id[{raw}]") from exc
    source = act.get("template_source") or TemplateSource.BUSINESS
    qs = Template.objects.filter(pk=pk, is_deleted=False)
    # A business template may use its business's templates and common ones; never another
    # business's. A common template (business None) may only use common ones.
    template = (qs.filter(business=business).first() if business is not None else None) \
        or qs.filter(source=TemplateSource.COMMON).first()
    if template is None:
        where = "common template" if source == TemplateSource.COMMON or business is None else \
            f"template of business[bk_biz_id={business.bk_biz_id}]"
        raise InvalidInput(f"subprocess node[id={act.get('id')}] refers to {where}[id={pk}] that does not exist")
    return template


def _subprocess_tree(template: Template, version: Any) -> dict:
    if version:
        snapshot = TemplateVersion.objects.filter(template=template, digest=str(version)).first()
        if snapshot is not None:
            return copy.deepcopy(snapshot.pipeline_tree)
    # An unknown or missing version falls back to the current tree rather than refusing.
    return copy.deepcopy(template.pipeline_tree)


def _resolve(business: Business | None, act: dict) -> tuple[int, dict]:
    template = _subprocess_template(business, act)
    return template.pk, _subprocess_tree(template, act.get("version"))


def unfold_subprocesses(tree: dict, business: Business | None, ancestors: tuple[int, ...] = (), *,
                        label: str = "pipeline_tree") -> dict:
    """Put each SubProcess node's template tree into its `pipeline`, at every level, in place.

    `business` says whose templates the nodes may name; `ancestors` are the
    templates the tree already sits in (a template being saved is its own).
    The engine counts the unfolding against the expansion budget
    (SOPS_MAX_EXPANDED_NODES, SOPS_MAX_SUBPROCESS_DEPTH) and refuses naming `label`.
    """
    # Imported late: the engine's runtime imports Django models, and this
    # module is imported while apps load.
    from pipeline_engine import api
    from pipeline_engine.errors import TreeInvalid

    try:
        return api.unfold_subprocesses(tree, partial(_resolve, business), ancestors, label=label)
    except TreeInvalid as exc:
        raise InvalidInput(exc.message) from exc


def check_expansion(tree: Any, *, label: str = "pipeline_tree") -> None:
    """Refuse a tree over the expansion budget as it is (inline SubProcesses counted), before
    anything walks it recursively (a copy, the unfolding's merges, validation)."""
    from pipeline_engine import api
    from pipeline_engine.errors import TreeInvalid

    if not isinstance(tree, dict):
        return
    try:
        api.check_expansion(tree, label=label)
    except TreeInvalid as exc:
        raise InvalidInput(exc.message) from exc


def check_unfolded_expansion(tree: dict, business: Business | None, ancestors: tuple[int, ...] = (), *,
                             label: str = "pipeline_tree") -> None:
    """Refuse a tree whose unfolding (on a copy) exceeds the expansion budget, as a task made from it
    would be refused. Other problems of the tree (a subprocess naming a missing template) are not
    this check's: a read that shows the tree (preview_task_tree) keeps showing it."""
    from pipeline_engine import api
    from pipeline_engine.errors import ExpansionExceeded, TreeInvalid

    check_expansion(tree, label=label)
    try:
        api.unfold_subprocesses(copy.deepcopy(tree), partial(_resolve, business), ancestors, label=label)
    except ExpansionExceeded as exc:
        raise InvalidInput(exc.message) from exc
    except (TreeInvalid, InvalidInput):
        pass


def template_label(template: Template | None = None, *, pk: int | None = None, name: str | None = None) -> str:
    """How budget errors name a template: by id and name where known."""
    if template is not None:
        pk, name = template.pk, template.name
    parts = [f"id={pk}"] if pk else []
    if name:
        parts.append(f"name={name[:80]}")
    return f"template[{', '.join(parts)}]" if parts else "pipeline_tree"
