"""Writes that bring templates in: an export file, a copy between businesses, a tree from the API.

Each public function is one transaction and creates every template through
services.create_template (or update_template_tree), so a tree is validated and
its first version recorded exactly as in the admin and `import_templates`; the
first refusal leaves nothing behind.
"""
from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from access_app.models import Business
from sops_common.errors import InvalidInput, InvalidOperation, NotFound

from . import exchange
from .models import Category, Template, TemplateSource
from .services import create_template, update_template_tree

#: the most templates (subprocesses included) one copy_template_across_project may create (the original's)
MAX_COPIED_TEMPLATES = 10
#: create_template's name and node-name rules (the original's): these characters go, then at most 50 remain
AUTHORED_NAME_MAX_LENGTH = 50
_UNSAFE_NAME_CHARS = re.compile(r"[<>$&'\"]")
OVERRIDE_PROJECT_FILE = "流程导入失败, 不能使用项目流程覆盖公共流程, 请检查后重试 | import_templates"


def _point_subprocesses(item: exchange.ImportItem, made: dict[str, Template], source: str) -> dict[str, Any]:
    """The item's tree with each SubProcess node naming the template created for it."""
    tree = copy.deepcopy(item.pipeline_tree)
    for act_id, key in item.subprocesses.items():
        act = tree["activities"][act_id]
        act["template_id"] = made[key].pk
        act["template_source"] = source
        # A version digest of the other service means nothing here: run the current tree.
        act.pop("version", None)
    return tree


def _import_items(items: list[exchange.ImportItem], *, business: Business | None, creator: str,
                  override: bool = False) -> dict[str, Any]:
    source = TemplateSource.BUSINESS if business is not None else TemplateSource.COMMON
    made: dict[str, Template] = {}
    flows: dict[str, str] = {}
    for item in exchange.creation_order(items):
        tree = _point_subprocesses(item, made, source)
        if business is not None:
            exchange.reset_biz_selectors(tree, business.bk_biz_id)
        existing = _overridden(item) if override else None
        try:
            if existing is not None:
                template = _overwrite(existing, item, tree, creator)
            else:
                template = create_template(name=item.name[:100], pipeline_tree=tree, creator=creator,
                                           business=business, category=item.category,
                                           description=item.description, settings=item.settings)
        except InvalidInput as exc:
            raise InvalidInput(f"template {item.name}: {exc.message}") from exc
        made[item.key] = template
        flows[str(template.pk)] = template.name
    return {"count": len(items), "flows": flows}


def _overridden(item: exchange.ImportItem) -> Template | None:
    """The common template an override import replaces: the one with the file's id, if any."""
    try:
        pk = int(item.file_id)
    except ValueError:
        return None
    return Template.objects.select_for_update().filter(pk=pk, source=TemplateSource.COMMON).first()


def _overwrite(template: Template, item: exchange.ImportItem, tree: dict[str, Any], editor: str) -> Template:
    template.name = item.name[:100]
    template.category = item.category
    template.description = item.description
    template.is_deleted = False
    for key, value in item.settings.items():
        setattr(template, key, value)
    template.save()
    return update_template_tree(template=template, pipeline_tree=tree, editor=editor)


@transaction.atomic
def import_exchange(*, content: str, creator: str, business: Business | None = None,
                    override: bool = False) -> dict[str, Any]:
    """Import an export file into `business` (common templates when None): `{count, flows}`.

    `override` (common imports only) overwrites the common templates that carry the file's
    ids; templates whose id is free are created under a new id.
    """
    parsed = exchange.read(content)
    if override and parsed.source != exchange.COMMON:
        raise InvalidOperation(OVERRIDE_PROJECT_FILE)
    return _import_items(parsed.items, business=business, creator=creator, override=override and business is None)


def _business_subprocesses(template: Template) -> list[int]:
    """Ids of the business templates a template's SubProcess nodes run (common ones stay shared)."""
    ids = []
    for act in (template.pipeline_tree.get("activities") or {}).values():
        if isinstance(act, dict) and act.get("type") == "SubProcess" \
                and (act.get("template_source") or TemplateSource.BUSINESS) != TemplateSource.COMMON:
            try:
                ids.append(int(str(act.get("template_id"))))
            except ValueError:
                continue
    return ids


def _copy_closure(source: Business, template_ids: list[int]) -> list[Template]:
    """The templates to copy and every business template their subprocesses run, at most MAX_COPIED_TEMPLATES."""
    live = Template.objects.filter(business=source, is_deleted=False)
    found = {t.pk: t for t in live.filter(pk__in=template_ids)}
    missing = [pk for pk in template_ids if pk not in found]
    if missing:
        raise NotFound(f"template[id={','.join(map(str, missing))}] of business[bk_biz_id="
                       f"{source.bk_biz_id}] does not exist")
    frontier = list(found.values())
    while frontier:
        if len(found) > MAX_COPIED_TEMPLATES:
            raise InvalidOperation(f"only {MAX_COPIED_TEMPLATES} templates can be copied once.")
        wanted = {pk for t in frontier for pk in _business_subprocesses(t)} - set(found)
        # An id that is no template of the business (a common one named without template_source)
        # is not copied: the copy keeps naming it, and validation says whether that is allowed.
        frontier = list(live.filter(pk__in=wanted))
        found.update({t.pk: t for t in frontier})
    return sorted(found.values(), key=lambda t: t.pk)


@transaction.atomic
def copy_templates(*, source: Business, target: Business, template_ids: list[int], creator: str) -> dict[str, Any]:
    """Copy live templates of `source`, with the business subprocesses they run, into `target`.

    Subprocesses that are common templates stay references to them. Returns `{count, flows}`
    with the new ids.
    """
    if source.pk == target.pk:
        raise InvalidInput("无法导入流程到到同一个项目")
    templates = _copy_closure(source, template_ids)
    keys = {str(t.pk) for t in templates}
    items = []
    for t in templates:
        item = exchange.ImportItem(
            key=str(t.pk), name=t.name, pipeline_tree=t.pipeline_tree, category=t.category,
            description=t.description, file_id=str(t.pk),
            settings={"notify_type": t.notify_type, "notify_receivers": t.notify_receivers, "time_out": t.time_out,
                      "default_flow_type": t.default_flow_type, "executor_proxy": t.executor_proxy})
        item.subprocesses = {
            act_id: str(act.get("template_id"))
            for act_id, act in (t.pipeline_tree.get("activities") or {}).items()
            if isinstance(act, dict) and act.get("type") == "SubProcess" and str(act.get("template_id")) in keys
            and (act.get("template_source") or TemplateSource.BUSINESS) != TemplateSource.COMMON}
        items.append(item)
    return _import_items(items, business=target, creator=creator)


def clean_name(raw: str) -> str:
    """A name as create_template stores it: `<>$&'"` removed, at most 50 characters."""
    return _UNSAFE_NAME_CHARS.sub("", raw)[:AUTHORED_NAME_MAX_LENGTH]


def default_name(now: dt.datetime | None = None) -> str:
    """`new` and the server's local time, as the original names an unnamed template."""
    return "new" + timezone.localtime(now or timezone.now()).strftime("%Y%m%d%H%M%S")


@transaction.atomic
def author_template(*, business: Business, pipeline_tree: dict[str, Any], creator: str, name: str | None = None,
                    description: str = "", category: str = Category.DEFAULT,
                    settings: dict[str, Any] | None = None) -> Template:
    """create_template: one business template from a tree, names cleaned as the original does."""
    tree = copy.deepcopy(pipeline_tree)
    activities = tree.get("activities")
    for node in (activities.values() if isinstance(activities, dict) else ()):
        if isinstance(node, dict) and isinstance(node.get("name"), str):
            node["name"] = clean_name(node["name"])
    final_name = clean_name(name) if name else default_name()
    if not final_name:
        raise InvalidInput("name must keep at least one character once <>$&'\" are removed")
    return create_template(name=final_name, pipeline_tree=tree, creator=creator, business=business,
                           category=category, description=description, settings=settings)
