"""Operator actions from the pages: which ones a task or node offers, reading their forms, doing them.

Every action is one call of the task services the API uses (tasks_app.services), each one
transaction; a refusal comes back as the service's own message. What is offered is a
convenience (an action that cannot apply is not shown); what is allowed is decided by the
role check before and by the services themselves.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from pipeline_engine.errors import EngineError
from sops_common.errors import DomainError, InvalidInput
from tasks_app import services
from tasks_app.models import OperateSource, TaskInstance

from .graph import ACTIVITY, SUBPROCESS
from .states import TASK_ENDED

EXCLUSIVE, CONDITIONAL_PARALLEL = "ExclusiveGateway", "ConditionalParallelGateway"
TASK_ACTIONS = services.TASK_ACTIONS
NODE_ACTIONS = services.NODE_ACTIONS


@dataclass(frozen=True)
class Action:
    code: str
    label: str
    confirm: str = ""       # asked before an action that cannot be undone


LABELS = {
    "start": Action("start", "Start"),
    "pause": Action("pause", "Pause"),
    "resume": Action("resume", "Resume"),
    "revoke": Action("revoke", "Revoke", "Revoke this task? Its running nodes stop and it cannot be resumed."),
    "retry": Action("retry", "Retry with these inputs"),
    "skip": Action("skip", "Skip", "Skip this node? The task goes on as if it had succeeded."),
    "skip_exg": Action("skip_exg", "Skip to branch", "Skip this gateway and take the chosen branch?"),
    "callback": Action("callback", "Send callback"),
    "pause_subproc": Action("pause_subproc", "Pause subprocess"),
    "resume_subproc": Action("resume_subproc", "Resume subprocess"),
    "forced_fail": Action("forced_fail", "Force fail", "Force this running node to fail? Its work is stopped."),
}


def task_actions(*, state: str, started: bool, may_operate: bool) -> list[Action]:
    if not may_operate:
        return []
    if not started:
        return [LABELS["start"]]
    if state in TASK_ENDED:
        return []
    pause_or_resume = "resume" if state == "SUSPENDED" else "pause"
    return [LABELS[pause_or_resume], LABELS["revoke"]]


def node_actions(node: dict, *, state: str, task_state: str, may_operate: bool) -> list[Action]:
    """The actions that can apply to a node of this type in this state."""
    if not may_operate or task_state in TASK_ENDED or task_state == "CREATED":
        return []
    kind = node.get("type")
    codes: list[str] = []
    if kind == ACTIVITY:
        if state == "FAILED":
            codes += ["retry"] if node.get("retryable", True) is not False else []
            codes += ["skip"] if node.get("skippable", True) is not False else []
        elif state == "RUNNING":
            codes += ["callback", "forced_fail"]
    elif kind == EXCLUSIVE and state == "FAILED":
        codes += ["retry", "skip_exg"]
    elif kind == CONDITIONAL_PARALLEL and state == "FAILED":
        codes += ["retry"]
    elif kind == SUBPROCESS:
        if state == "SUSPENDED":
            codes += ["resume_subproc"]
        elif state in ("RUNNING", "FAILED", "NODE_SUSPENDED"):
            codes += ["pause_subproc"]
    return [LABELS[c] for c in codes]


def refusal(exc: Exception) -> str:
    """The message of a service's or the engine's refusal, as the API would answer it."""
    return getattr(exc, "message", str(exc))


REFUSALS = (DomainError, EngineError)


# --- reading the forms -------------------------------------------------------------------------------

def typed_value(raw: str, kind: str, what: str) -> Any:
    """A form field back to its value: text stays text; `json` fields hold a JSON value."""
    if kind != "json":
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from exc


def prefixed_values(post: QueryDict, prefix: str, what: str) -> dict[str, Any]:
    """Fields named `<prefix>:<key>`, typed by the matching `kind:<prefix>:<key>` field."""
    values = {}
    for name in post:
        if name.startswith(prefix + ":"):
            key = name[len(prefix) + 1:]
            values[key] = typed_value(post.get(name, ""), post.get(f"kind:{prefix}:{key}", "text"),
                                      f"{what} {key}")
    return values


def callback_data(post: QueryDict) -> dict[str, Any]:
    raw = (post.get("data") or "").strip() or "{}"
    value = typed_value(raw, "json", "callback data")
    if not isinstance(value, dict):
        raise InvalidInput("data field is not a valid object")
    return value


def perform(*, task: TaskInstance, post: QueryDict, username: str) -> str:
    """Do the posted action through the task services; the success message, or a refusal raised."""
    action = post.get("action") or ""
    if action in TASK_ACTIONS:
        services.operate_task(task=task, action=action, username=username, source=OperateSource.APP)
        return f"Task: {LABELS[action].label.lower()} done."
    if action not in NODE_ACTIONS:
        raise InvalidInput(f"action[{action}] is invalid")
    key = post.get("node") or ""
    node_id = key.rpartition("/")[2]
    inputs = prefixed_values(post, "input", "input") if action == "retry" else None
    data = callback_data(post) if action == "callback" else None
    services.operate_node(task=task, node_id=node_id, action=action, username=username, source=OperateSource.APP,
                          inputs=inputs, data=data, flow_id=post.get("flow_id") or None)
    return f"Node: {LABELS[action].label.lower()} done."
