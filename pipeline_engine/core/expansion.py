"""The expansion budget: how many nodes a tree may hold once its SubProcesses are unfolded, and how deep they nest.

A SubProcess is either inline (its tree in `pipeline`) or a reference to a
template that `tree_edit.unfold_subprocesses` puts in place. Both count alike:

- **nodes**: every start and end event, activity and gateway of every level,
  the SubProcess node itself included, at most SOPS_MAX_EXPANDED_NODES
  (default DEFAULT_MAX_NODES);
- **depth**: the levels below the top one, at most SOPS_MAX_SUBPROCESS_DEPTH
  (default DEFAULT_MAX_DEPTH, the depth the referenced-template rule always had).

Why a node budget: fan-out multiplies. Four levels of ten SubProcess nodes
each unfold into 10,000 copies of the leaf template; create_task took 6 s
and answered 18 MB, and one level more took a minute (issue 9). Why a depth
budget for inline trees too: every walker of a tree (copying, id renewal,
compiling, JSON encoding) recurses per level, and 300 inline levels ended in
a RecursionError. The walks here are iterative, so they are safe on any input,
and a tree that passes leaves every recursive walker far from the
interpreter's limit (8 levels x the API's JSON depth of 64 < 1,000 frames).

The error is ExpansionExceeded, a TreeInvalid (the apps answer 3540000): it names the tree (the
caller's `label`, e.g. "template[id=12]") and the count reached.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline_engine.errors import ExpansionExceeded

from . import tree as t
from .components.config import setting

DEFAULT_MAX_NODES = 20_000
DEFAULT_MAX_DEPTH = 8
NODES_SETTING = "SOPS_MAX_EXPANDED_NODES"
DEPTH_SETTING = "SOPS_MAX_SUBPROCESS_DEPTH"


@dataclass(frozen=True)
class Budget:
    max_nodes: int = DEFAULT_MAX_NODES
    max_depth: int = DEFAULT_MAX_DEPTH

    @classmethod
    def configured(cls) -> Budget:
        """The budget of the host's settings (the core reads them through components.config)."""
        return cls(max_nodes=int(setting(NODES_SETTING, DEFAULT_MAX_NODES)),
                   max_depth=int(setting(DEPTH_SETTING, DEFAULT_MAX_DEPTH)))


def level_nodes(level: dict[str, Any]) -> int:
    """The nodes of one tree level (not of its SubProcesses' trees)."""
    count = sum(1 for key in ("start_event", "end_event") if isinstance(level.get(key), dict))
    for group in ("activities", "gateways"):
        nodes = level.get(group)
        if isinstance(nodes, dict):
            count += len(nodes)
    return count


def subprocess_nodes(level: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The SubProcess activities of one level."""
    activities = level.get("activities")
    if isinstance(activities, dict):
        for act in activities.values():
            if isinstance(act, dict) and act.get("type") == t.SUBPROCESS:
                yield act


class Tally:
    """The running count of one unfolding: add each level as it is reached; raises when over budget."""

    def __init__(self, budget: Budget | None = None, label: str = "the pipeline tree") -> None:
        self.budget = budget or Budget.configured()
        self.label = label
        self.nodes = 0
        self.deepest = 0

    def add_level(self, level: dict[str, Any]) -> None:
        self.nodes += level_nodes(level)
        if self.nodes > self.budget.max_nodes:
            raise ExpansionExceeded(
                f"{self.label} has more than {self.budget.max_nodes} nodes once its subprocesses are "
                f"unfolded ({self.nodes} counted so far; the limit is {NODES_SETTING})")

    def enter(self, act: dict[str, Any], depth: int) -> None:
        """Check that SubProcess `act`'s tree, at `depth` levels below the top, is within the budget."""
        self.deepest = max(self.deepest, depth)
        if depth > self.budget.max_depth:
            raise ExpansionExceeded(
                f"{self.label} nests subprocesses {depth} levels deep at subprocess node[id={act.get('id')}], "
                f"more than {self.budget.max_depth} (the limit is {DEPTH_SETTING})")


def check(tree: dict[str, Any], budget: Budget | None = None, *, label: str = "the pipeline tree") -> Tally:
    """Count the tree as it is (inline SubProcesses only), without recursion; raise when over budget."""
    tally = Tally(budget, label)
    stack: list[tuple[dict[str, Any], int]] = [(tree, 0)]
    while stack:
        level, depth = stack.pop()
        tally.add_level(level)
        for act in subprocess_nodes(level):
            child = act.get("pipeline")
            if isinstance(child, dict):
                tally.enter(act, depth + 1)
                stack.append((child, depth + 1))
    return tally
