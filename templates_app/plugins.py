"""The plugins (engine components) templates may use, as the gateway lists them.

Everything comes from the engine's component registry (pipeline_engine.api), so a
component registered by a module of SOPS_COMPONENT_MODULES or an entry point is
listed with no further work. sops has no per-business plugins and no disabled
ones: every business sees every registered component.
"""
from __future__ import annotations

from typing import Any

from sops_common.errors import NotFound

#: a declared field type -> its JSON schema type
JSON_TYPES = {"string": "string", "str": "string", "int": "integer", "integer": "integer", "float": "number",
              "number": "number", "bool": "boolean", "boolean": "boolean", "object": "object", "dict": "object",
              "list": "array", "array": "array"}


def field_schema(spec: dict[str, Any]) -> dict[str, Any]:
    json_type = JSON_TYPES.get(str(spec.get("type") or "string").lower(), "string")
    schema: dict[str, Any] = {"type": json_type, "description": spec.get("description") or "", "enum": []}
    if json_type == "object":
        schema["properties"] = {}
    elif json_type == "array":
        schema["items"] = {}
    return schema


def plugin_item(described: dict[str, Any]) -> dict[str, Any]:
    """A component as get_plugin_list shows it: the original's item, plus `group` (the group's code)."""
    return {
        "code": described["code"], "name": described["name"], "version": described["version"],
        "group": described["group"], "group_name": described["group_name"], "desc": described["description"],
        "form": "",
        "inputs": [{"name": f["name"], "key": f["key"], "type": f["type"], "required": bool(f["required"]),
                    "schema": field_schema(f)} for f in described["inputs"]],
        "outputs": [{"name": f["name"], "key": f["key"], "type": f["type"], "schema": field_schema(f)}
                    for f in described["outputs"]],
    }


def list_plugins() -> list[dict[str, Any]]:
    """Every registered component version, by code then version."""
    from pipeline_engine import api

    return [plugin_item(c) for c in api.list_components()]


def plugin_base_info() -> list[dict[str, str]]:
    from pipeline_engine import api

    return [{"code": c["code"], "name": c["name"]} for c in api.list_components()]


def plugin_detail(code: str, version: str = "legacy") -> dict[str, Any]:
    """One component; NotFound in the original's words when nothing is registered under it."""
    from pipeline_engine import api

    described = api.describe_component(code, version)
    if described is None:
        raise NotFound(f"can not find suitable component with code: {code} and version: {version}")
    return plugin_item(described)
