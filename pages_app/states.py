"""The states the pages colour and name, and how a node's engine state becomes one of them.

The names are the API's (get_task_status answers them); SKIPPED is the page's own word for
a node the API reports as FINISHED with `skip` set, so an operator sees at a glance which
nodes did not really run.
"""
from __future__ import annotations

# (code, what it means), in the order the legend shows them.
LEGEND: list[tuple[str, str]] = [
    ("CREATED", "task not started"),
    ("READY", "not reached yet"),
    ("RUNNING", "running or waiting"),
    ("SUSPENDED", "paused"),
    ("FAILED", "failed, waits for an operator"),
    ("FINISHED", "finished"),
    ("REVOKED", "revoked"),
    ("SKIPPED", "skipped by an operator"),
]
CODES = frozenset(code for code, _ in LEGEND) | {"NODE_SUSPENDED"}

# A task in one of these never changes again: its page stops asking.
TASK_ENDED = frozenset({"FINISHED", "REVOKED"})


def node_state(state: str, skip: bool) -> str:
    if skip and state == "FINISHED":
        return "SKIPPED"
    return state


def unreached_state(task_started: bool) -> str:
    """What a node the run has not reached shows: the API's own answer for it (node detail)."""
    return "READY" if task_started else "CREATED"
