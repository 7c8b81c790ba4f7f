"""Reads on common templates for the gateway: the list, one template, its variables.

Common templates belong to no business, so what a user may do with them follows
from the best role the user holds in any business (`auth_actions`); a superuser
may do everything. Each read is a fixed number of queries.
"""
from __future__ import annotations

import copy
import json
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from access_app.models import ROLE_RANK, BusinessMember, Role
from sops_common.errors import Forbidden, NotFound
from sops_common.limits import parse_id
from sops_common.timefmt import format_time

from .models import Template, TemplateSource, TemplateVersion
from .selectors import tree_without_layout

#: what each common-template action needs: the role a user holds in at least one business
COMMON_ACTIONS: dict[str, str | None] = {
    "common_flow_view": Role.VIEWER,
    "common_flow_create_task": Role.OPERATOR,
    "common_flow_create_periodic_task": Role.MAINTAINER,
    # Editing templates every business runs is the administrators' (the admin site's).
    "common_flow_create": None,
    "common_flow_edit": None,
    "common_flow_delete": None,
}
#: constant_type of a component-input variable (the original's literal), and of custom variable types
COMPONENT_INPUT_TYPE = "节点输入"
CUSTOM_TYPE_NAMES = {"input": "输入框", "textarea": "文本框", "datetime": "日期时间", "int": "整数",
                     "select": "下拉框", "password": "密码", "datatable": "表格", "ip": "IP选择器"}


def best_role(user: User) -> str | None:
    """The highest role the user holds in any business (maintainer for a superuser); None for none."""
    if user.is_superuser:
        return Role.MAINTAINER
    roles = set(BusinessMember.objects.filter(user=user).values_list("role", flat=True))
    return max(roles, key=lambda r: ROLE_RANK[Role(r)], default=None)


def require_common_access(user: User) -> str:
    """The user's best role; Forbidden for a user with no role in any business."""
    role = best_role(user)
    if role is None:
        raise Forbidden(f"user[username={user.get_username()}] has no role in any business, so may not "
                        "read common templates")
    return role


def auth_actions(role: str | None, is_superuser: bool = False) -> list[str]:
    rank = ROLE_RANK[Role(role)] if role else 0
    return [action for action, needed in COMMON_ACTIONS.items()
            if is_superuser or (needed is not None and rank >= ROLE_RANK[Role(needed)])]


def server_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def notify_fields(template: Template) -> dict[str, Any]:
    """notify_type (always {success, fail}) and notify_receivers, as include_notify adds them."""
    raw = template.notify_type
    if isinstance(raw, list):  # the legacy form: one list for both outcomes
        notify_type = {"success": list(raw), "fail": list(raw)}
    elif isinstance(raw, dict):
        notify_type = {"success": list(raw.get("success") or []), "fail": list(raw.get("fail") or [])}
    else:
        notify_type = {"success": [], "fail": []}
    receivers = template.notify_receivers if isinstance(template.notify_receivers, dict) else {}
    return {"notify_type": notify_type, "notify_receivers": receivers}


def _summary(template: Template, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "id": template.pk, "name": template.name, "category": template.category, "creator": template.creator,
        "create_time": format_time(template.create_time, tz), "editor": template.editor,
        "edit_time": format_time(template.edit_time, tz), "description": template.description,
    }


def list_common_templates(user: User, *, include_notify: bool = False,
                          tz: zoneinfo.ZoneInfo | None = None) -> list[dict[str, Any]]:
    """Every live common template, newest first, with what the user may do with each."""
    actions = auth_actions(require_common_access(user), user.is_superuser)
    zone = tz or server_zone()
    out = []
    for template in Template.objects.filter(source=TemplateSource.COMMON, is_deleted=False).defer("pipeline_tree"):
        item = {**_summary(template, zone), "auth_actions": list(actions)}
        if include_notify:
            item.update(notify_fields(template))
        out.append(item)
    return out


def get_common_template(template_id: Any) -> Template:
    pk = parse_id(template_id, "template_id")
    template = Template.objects.filter(pk=pk, source=TemplateSource.COMMON, is_deleted=False).first()
    if template is None:
        raise NotFound(f"common template[id={pk}] does not exist")
    return template


def tree_of_version(template: Template, version: str | None) -> dict[str, Any]:
    """The template's current tree, or the one saved under `version` (a version digest)."""
    if not version or version == template.version:
        return template.pipeline_tree
    snapshot = TemplateVersion.objects.filter(template=template, digest=version).first()
    if snapshot is None:
        raise NotFound(f"version[{version}] of template[id={template.pk}] does not exist")
    return snapshot.pipeline_tree


def _field_types() -> dict[tuple[str, str], str]:
    from pipeline_engine import api

    return {(c["code"], f["key"]): f["type"] for c in api.list_components() for f in c["inputs"]}


def _json_type(kind: str) -> str:
    return {"int": "integer", "integer": "integer", "float": "number", "number": "number", "bool": "boolean",
            "boolean": "boolean", "object": "object", "dict": "object", "list": "array", "array": "array"}.get(
        kind, "string")


def constant_schema(constant: dict[str, Any], field_types: dict[tuple[str, str], str]) -> dict[str, Any] | None:
    """A JSON schema for a custom or component-input variable; None for the others."""
    source_type = constant.get("source_type")
    if source_type == "custom":
        kind = "int" if constant.get("custom_type") == "int" else "string"
    elif source_type == "component_inputs":
        code, _, key = str(constant.get("source_tag") or "").partition(".")
        kind = field_types.get((code, key), "string")
    else:
        return None
    return {"type": _json_type(kind), "description": str(constant.get("desc") or "")}


def referencing_nodes(tree: dict[str, Any], key: str) -> int:
    """How many of the tree's activities use the variable: ticked inputs, or `${key}` in their data."""
    nodes: set[str] = set()
    constant = (tree.get("constants") or {}).get(key) or {}
    source_info = constant.get("source_info")
    if constant.get("source_type") == "component_inputs" and isinstance(source_info, dict):
        nodes.update(source_info)
    for act_id, act in (tree.get("activities") or {}).items():
        if not isinstance(act, dict):
            continue
        used = act.get("component", {}).get("data") if act.get("type") == "ServiceActivity" else act.get("constants")
        if key in json.dumps(used, ensure_ascii=False):
            nodes.add(act_id)
    return len(nodes)


def template_constants(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """One item per variable the tree uses (unreferenced ones pruned), component outputs left out."""
    from pipeline_engine import api

    pruned = api.prepare_task_tree(tree, exclude_task_nodes_id=[])
    out = []
    for key, constant in sorted((pruned.get("constants") or {}).items(), key=lambda kv: kv[1].get("index", 0)):
        if constant.get("source_type") == "component_outputs":
            continue
        out.append({
            "name": constant.get("name", ""), "key": key, "show_type": constant.get("show_type", "show"),
            "constant_type": COMPONENT_INPUT_TYPE if constant.get("source_type") == "component_inputs"
            else CUSTOM_TYPE_NAMES.get(str(constant.get("custom_type") or ""), constant.get("custom_type") or ""),
            "activity_count": referencing_nodes(tree, key),
        })
    return out


def subprocess_state(template: Template) -> dict[str, bool]:
    """has_subprocess, and subprocess_has_update: a node pins a version its template has left."""
    subprocesses = [act for act in (template.pipeline_tree.get("activities") or {}).values()
                    if isinstance(act, dict) and act.get("type") == "SubProcess"]
    ids = set()
    for act in subprocesses:
        try:
            ids.add(int(str(act.get("template_id"))))
        except ValueError:
            continue
    current = dict(Template.objects.filter(pk__in=ids).values_list("pk", "version"))
    outdated = any(act.get("version") and current.get(_int_or_none(act.get("template_id")) or 0) !=
                   str(act.get("version")) for act in subprocesses)
    return {"has_subprocess": bool(subprocesses), "subprocess_has_update": outdated}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def common_template_info(user: User, template: Template, *, include_subprocess: bool = False,
                         include_constants: bool = False, include_notify: bool = False) -> dict[str, Any]:
    """One common template with its tree (layout removed, a `schema` on every variable)."""
    require_common_access(user)
    data = _summary(template, server_zone())
    tree = tree_without_layout(template.pipeline_tree)
    field_types = _field_types()
    for constant in (tree.get("constants") or {}).values():
        if isinstance(constant, dict):
            constant["schema"] = constant_schema(constant, field_types)
    data["pipeline_tree"] = tree
    if include_subprocess:
        data.update(subprocess_state(template))
    if include_constants:
        data["template_constants"] = template_constants(copy.deepcopy(template.pipeline_tree))
    if include_notify:
        data.update(notify_fields(template))
    return data
