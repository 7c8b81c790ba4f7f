"""Writes on clocked tasks: planning one (create_clocked_task). One transaction each.

A plan is checked when it is made: the time, the parameters, and a dry run of the task it will
create (node selection, constants), so a plan that could never start is refused now rather than
failing at its time. The template may still change before then; the firing builds the task from
the template as it is at that moment, as the original does.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from access_app.models import Business
from sops_common.errors import InvalidInput
from sops_common.timefmt import parse_time
from templates_app.models import Template

from .models import CLOCKED_TASK_NAME_MAX_LENGTH, ClockedTask

#: the keys of task_parameters, and what each holds
PARAMETER_KEYS = ("constants", "exclude_task_nodes_id", "template_schemes_id", "appoint_task_nodes_id",
                  "simplify_vars", "description")
NODE_SELECTIONS = ("exclude_task_nodes_id", "template_schemes_id", "appoint_task_nodes_id")


def validate_task_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > CLOCKED_TASK_NAME_MAX_LENGTH:
        raise InvalidInput(f"task_name must be a string of 1 to {CLOCKED_TASK_NAME_MAX_LENGTH} characters")
    return value


def parse_plan_start_time(value: Any, business: Business, now: dt.datetime | None = None) -> dt.datetime:
    """`2022-05-16 20:26:40+0800`, ISO 8601 (`...T...`, `Z`), or naive (in the business's zone); in the future."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("plan_start_time is required: a time such as 2026-05-16 20:26:40 +0800")
    try:
        when = parse_time(value, business.tzinfo)
    except ValueError as exc:
        raise InvalidInput(f"plan_start_time is invalid: {exc}") from exc
    if when <= (now or timezone.now()):
        raise InvalidInput("plan_start_time is invalid: Plan start time should be later than the time to create "
                           "the plan")
    return when


def _node_list(params: dict, key: str) -> list[str]:
    value = [] if params.get(key) is None else params[key]
    if not isinstance(value, list) or not all(isinstance(i, str) and i for i in value):
        raise InvalidInput(f"task_parameters.{key} must be a list of node ids")
    return value


def check_constant_references(constants: dict[str, Any]) -> None:
    """No value refers to its own key, and the given keys do not refer to each other in a cycle."""
    from pipeline_engine import api

    refs = {key: api.referenced_keys(value) & set(constants) for key, value in constants.items()}
    for key, targets in refs.items():
        if key in targets:
            raise InvalidInput(f"task_parameters.constants: the value of constant {key} refers to itself")
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(key: str) -> None:
        state[key] = 1
        stack.append(key)
        for target in sorted(refs[key]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):]
                raise InvalidInput(f"task_parameters.constants: constants {', '.join(cycle)} refer to each other "
                                   "in a cycle")
            if target not in state:
                visit(target)
        stack.pop()
        state[key] = 2

    for key in sorted(refs):
        if key not in state:
            visit(key)


def normalise_parameters(raw: Any) -> dict[str, Any]:
    """task_parameters as stored: the known keys only, checked; the original's defaults when absent."""
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("task_parameters must be an object")
    unknown = sorted(set(raw) - set(PARAMETER_KEYS))
    if unknown:
        raise InvalidInput(f"task_parameters: unknown key(s) {', '.join(unknown)}; the keys are "
                           f"{', '.join(PARAMETER_KEYS)}")
    constants = {} if raw.get("constants") is None else raw["constants"]
    if not isinstance(constants, dict):
        raise InvalidInput("task_parameters.constants must be an object")
    check_constant_references(constants)
    used = [key for key in NODE_SELECTIONS if raw.get(key)]
    if len(used) > 1:
        raise InvalidInput(f"task_parameters: can not use multiple method to appoint execute nodes "
                           f"({', '.join(used)}): give one")
    params: dict[str, Any] = {"constants": constants, "template_schemes_id": []}
    for key in ("exclude_task_nodes_id", "appoint_task_nodes_id"):
        if key in raw:
            params[key] = _node_list(raw, key)
    schemes = [] if raw.get("template_schemes_id") is None else raw["template_schemes_id"]
    if not isinstance(schemes, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0
                                                for i in schemes):
        raise InvalidInput("task_parameters.template_schemes_id must be a list of scheme ids (positive integers)")
    params["template_schemes_id"] = schemes
    simplify = [] if raw.get("simplify_vars") is None else raw["simplify_vars"]
    if not isinstance(simplify, list) or not all(isinstance(k, str) for k in simplify):
        raise InvalidInput("task_parameters.simplify_vars must be a list of variable keys")
    if simplify:
        params["simplify_vars"] = simplify
    description = "" if raw.get("description") is None else raw["description"]
    if not isinstance(description, str):
        raise InvalidInput("task_parameters.description must be a string")
    if description:
        params["description"] = description
    return params


def task_kwargs(template: Template, params: dict[str, Any]) -> dict[str, Any]:
    """create_task's node selection and constants for these parameters (appointed nodes: mandatory ones stay)."""
    from templates_app.schemes import excluded_outside

    exclude = params.get("exclude_task_nodes_id") or None
    appoint = params.get("appoint_task_nodes_id") or []
    if appoint:
        exclude = excluded_outside(template.pipeline_tree, appoint)
    return {"constants": params.get("constants") or {}, "exclude_task_nodes_id": exclude,
            "template_schemes_id": params.get("template_schemes_id") or None,
            "simplify_vars": params.get("simplify_vars") or None, "description": params.get("description") or ""}


def dry_run(business: Business, template: Template, params: dict[str, Any]) -> None:
    """Build (not save) the task the plan will create, so a plan that cannot start is refused now."""
    from tasks_app import selection
    from tasks_app.services import build_task_tree

    kwargs = task_kwargs(template, params)
    tree = selection.simplify_vars(template.pipeline_tree, kwargs["simplify_vars"])
    exclude = selection.excluded_nodes(template=template, tree=tree,
                                       exclude_task_nodes_id=kwargs["exclude_task_nodes_id"],
                                       template_schemes_id=kwargs["template_schemes_id"])
    build_task_tree(business=business, source_tree=tree, exclude_task_nodes_id=exclude,
                    constants=kwargs["constants"])


@transaction.atomic
def create_clocked_task(*, business: Business, template: Template, task_name: Any, plan_start_time: Any,
                        task_parameters: Any, creator: str) -> ClockedTask:
    """Plan one run of `template` (a template of `business`, found from the path) at `plan_start_time`."""
    task_name = validate_task_name(task_name)
    when = parse_plan_start_time(plan_start_time, business)
    params = normalise_parameters(task_parameters)
    dry_run(business, template, params)
    return ClockedTask.objects.create(
        business=business, template=template, template_name=template.name, task_name=task_name,
        creator=creator, plan_start_time=when, task_parameters=params)
