"""Reads on templates, each a fixed number of queries."""
from __future__ import annotations

import copy
from typing import Any

from access_app.models import Business
from sops_common.errors import InvalidInput, NotFound
from sops_common.limits import parse_id
from sops_common.prepared import compiled_first
from sops_common.timefmt import format_time

from .models import Template, TemplateSource

LAYOUT_KEYS = ("line", "location")


def parse_source(raw: Any) -> str:
    """`project` is the newer name for business templates; accept it as an alias."""
    value = (raw or TemplateSource.BUSINESS)
    value = TemplateSource.BUSINESS if value == "project" else value
    if value not in TemplateSource.values:
        raise InvalidInput(f"template_source must be business or common, not {raw!r}")
    return value


def template_queryset(business: Business, source: str):
    return _live_templates(source, business.pk)


def _live_templates(source: str, business_id: int):
    # _in_scope is the same rule, checked on a row read by its key.
    qs = Template.objects.filter(is_deleted=False, source=source)
    if source == TemplateSource.BUSINESS:
        qs = qs.filter(business_id=business_id)
    return qs


def get_template(business: Business, template_id: Any, source: str) -> Template:
    pk = parse_id(template_id, "template_id")
    # create_task's first read: compiled once (sops_common.prepared). The row is read by its key
    # alone and its scope checked here: a query that also named the business, the source or the
    # deletion flag would let PostgreSQL plan it on one of their indexes, which it does on tables
    # it has no statistics of, and keep that plan for the connection (tasks_app.selectors._started_task).
    template = compiled_first("get_template", lambda pk: Template.objects.filter(pk=pk)[:1], pk=pk)
    if template is not None and not _in_scope(template, source, business):
        template = None
    if template is not None and template.business_id == business.pk:
        template.business = business
    if template is None:
        if source == TemplateSource.COMMON:
            raise NotFound(f"common template[id={pk}] does not exist")
        raise NotFound(f"template[id={pk}] of business[bk_biz_id={business.bk_biz_id}] does not exist")
    return template


def _in_scope(template: Template, source: str, business: Business) -> bool:
    """Whether `template` is one template_queryset(business, source) holds."""
    return (not template.is_deleted and template.source == source
            and (source != TemplateSource.BUSINESS or template.business_id == business.pk))


def get_template_by_id(template_id: Any) -> Template:
    """A live template whatever its business or source (the caller checks access); 404 if absent."""
    pk = parse_id(template_id, "template_id")
    template = Template.objects.select_related("business").filter(pk=pk, is_deleted=False).first()
    if template is None:
        raise NotFound(f"template[id={pk}] does not exist")
    return template

def template_summary(template: Template, business: Business) -> dict[str, Any]:
    tz = business.tzinfo
    return {
        "id": template.pk,
        "name": template.name,
        "creator": template.creator,
        "create_time": format_time(template.create_time, tz),
        "editor": template.editor,
        "edit_time": format_time(template.edit_time, tz),
        "category": template.category,
        "bk_biz_id": str(business.bk_biz_id),
        "bk_biz_name": business.name,
    }


def list_templates(business: Business, source: str) -> list[dict[str, Any]]:
    qs = template_queryset(business, source).defer("pipeline_tree").order_by("-id")
    return [template_summary(t, business) for t in qs]


def tree_without_layout(tree: dict) -> dict:
    out = copy.deepcopy(tree)
    for key in LAYOUT_KEYS:
        out.pop(key, None)
    return out


def template_info(template: Template, business: Business) -> dict[str, Any]:
    data = template_summary(template, business)
    data["pipeline_tree"] = tree_without_layout(template.pipeline_tree)
    data["description"] = template.description
    data["version"] = template.version
    return data


def export_templates(template_ids: list[int]) -> list[dict[str, Any]]:
    """Live templates as import_templates reads them back: tree, fields and execution schemes."""
    from .schemes import export_schemes

    wanted = list(dict.fromkeys(template_ids))
    found = {t.pk: t for t in Template.objects.filter(pk__in=wanted, is_deleted=False)}
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise NotFound(f"template[id={', '.join(missing)}] does not exist")
    return [{"name": t.name, "category": t.category, "description": t.description,
             "pipeline_tree": t.pipeline_tree, "schemes": export_schemes(t)} for t in (found[pk] for pk in wanted)]
