"""Which of a template's nodes a task runs (exclude_task_nodes_id, execute_task_nodes_id, template_schemes_id),
and simplify_vars: the template tree edits create_task makes before the engine prepares the tree.

The original's execute_task_nodes_id also excludes the mandatory nodes a caller leaves out, and
then fails with `task node[id=X] is not optional` (its open issue #7825). Here a selection that
leaves out mandatory nodes is refused up front with a message naming every one of them.
"""
from __future__ import annotations

import copy
from typing import Any

from sops_common.errors import InvalidInput
from templates_app import schemes
from templates_app.models import Template

SIMPLE_VAR = {"custom_type": "textarea", "source_tag": "textarea.textarea", "is_meta": False}


def _node_ids(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise InvalidInput(f"task params is invalid: {name} must be a list of node ids")
    return value


def excluded_nodes(*, template: Template | None, tree: dict, exclude_task_nodes_id: Any = None,
                   execute_task_nodes_id: Any = None, template_schemes_id: Any = None) -> list[str] | None:
    """The template nodes to leave out, from whichever way of choosing the caller used (None: keep all).

    execute_task_nodes_id wins over exclude_task_nodes_id, as in the original; template_schemes_id
    goes with neither.
    """
    exclude = _node_ids(exclude_task_nodes_id, "exclude_task_nodes_id")
    execute = _node_ids(execute_task_nodes_id, "execute_task_nodes_id")
    if template_schemes_id not in (None, []):
        if exclude or execute:
            raise InvalidInput("template_schemes_id can not be used with exclude_task_nodes_id or "
                               "execute_task_nodes_id")
        if template is None:
            raise InvalidInput("template_schemes_id needs a template")
        chosen = schemes.schemes_of(template, schemes.parse_scheme_ids(template_schemes_id))
        selected = {node_id for scheme in chosen for node_id in scheme.data}
        return schemes.excluded_outside(tree, selected)
    if execute:
        return execute_selection(tree, execute)
    return exclude or None


def execute_selection(tree: dict, execute: list[str]) -> list[str]:
    """The nodes execute_task_nodes_id leaves out; refused when they include a mandatory node.

    Unknown ids are ignored, as in the original.
    """
    keep = set(execute)
    activities = tree.get("activities") or {}
    left_out = [node_id for node_id in activities if node_id not in keep]
    mandatory = [node_id for node_id in left_out if not (activities[node_id] or {}).get("optional")]
    if mandatory:
        raise InvalidInput(
            "execute_task_nodes_id leaves out mandatory (non-optional) nodes: "
            f"{', '.join(_label(activities, n) for n in mandatory)}; a task runs every mandatory node, so "
            "list them too (only optional nodes can be left out)")
    return left_out


def _label(activities: dict, node_id: str) -> str:
    name = (activities.get(node_id) or {}).get("name")
    return f"{node_id} ({name})" if name and name != node_id else node_id


def simplify_vars(tree: dict, keys: Any) -> dict:
    """A copy of `tree` where each listed custom variable is a plain text variable (textarea), so the
    caller passes its value as text. Keys of other source types, or not in the tree, are skipped."""
    if keys in (None, []):
        return tree
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidInput("task params is invalid: simplify_vars must be a list of variable keys")
    tree = copy.deepcopy(tree)
    constants = tree.get("constants") or {}
    for key in keys:
        const = constants.get(key)
        if isinstance(const, dict) and const.get("source_type") == "custom":
            const.update(SIMPLE_VAR)
    return tree
