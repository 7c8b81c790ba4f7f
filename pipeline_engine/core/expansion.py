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
caller's `label`, e.g. "template[id=12]") and the count.

`measure` counts an unfolding before it is made: each referenced template is
resolved and counted once, however many nodes name it, so the four-level fan
out above is measured exactly (43,012 nodes) from five trees, in milliseconds,
and refused before a single copy is made.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline_engine.errors import ExpansionExceeded

from . import tree as t
from .settings import setting

DEFAULT_MAX_NODES = 20_000
DEFAULT_MAX_DEPTH = 8
NODES_SETTING = "SOPS_MAX_EXPANDED_NODES"
DEPTH_SETTING = "SOPS_MAX_SUBPROCESS_DEPTH"


@dataclass(frozen=True)
class Budget:
    max_nodes: int = DEFAULT_MAX_NODES
    max_depth: int = DEFAULT_MAX_DEPTH

    def too_many(self, label: str, nodes: int) -> ExpansionExceeded:
        return ExpansionExceeded(
            f"{label} has {nodes} nodes once its subprocesses are unfolded, more than {self.max_nodes} "
            f"(the limit is {NODES_SETTING})")

    def too_deep(self, label: str, act: dict[str, Any], depth: int) -> ExpansionExceeded:
        return ExpansionExceeded(
            f"{label} nests subprocesses {depth} levels deep at subprocess node[id={act.get('id')}], "
            f"more than {self.max_depth} (the limit is {DEPTH_SETTING})")

    @classmethod
    def configured(cls) -> Budget:
        """The budget of the host's settings (core/settings.py)."""
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
            raise self.budget.too_many(self.label, self.nodes)

    def enter(self, act: dict[str, Any], depth: int) -> None:
        """Check that SubProcess `act`'s tree, at `depth` levels below the top, is within the budget."""
        self.deepest = max(self.deepest, depth)
        if depth > self.budget.max_depth:
            raise self.budget.too_deep(self.label, act, depth)


def check(tree: dict[str, Any], budget: Budget | None = None, *, label: str = "the pipeline tree") -> Tally:
    """Count the tree as it is (inline SubProcesses only), without recursion; raise when over budget
    (too deep: at once; too many nodes: once all are counted, so the message gives the count)."""
    tally = Tally(budget, label)
    limit, tally.budget = tally.budget, Budget(max_nodes=2**63, max_depth=tally.budget.max_depth)
    stack: list[tuple[dict[str, Any], int]] = [(tree, 0)]
    while stack:
        level, depth = stack.pop()
        tally.add_level(level)
        for act in subprocess_nodes(level):
            child = act.get("pipeline")
            if isinstance(child, dict):
                tally.enter(act, depth + 1)
                stack.append((child, depth + 1))
    tally.budget = limit
    if tally.nodes > limit.max_nodes:
        raise limit.too_many(label, tally.nodes)
    return tally


# What `measure` asks for a SubProcess node naming a template: (a key naming the template, its tree).
# The tree is only read. The same contract as tree_edit's Resolver, so one resolver serves both.
Resolve = Callable[[dict[str, Any]], tuple[Hashable, dict[str, Any]]]


def reference(act: dict[str, Any]) -> tuple[str, str, str]:
    """What a SubProcess node names: template id, version, source (two nodes naming the same are one)."""
    return (str(act.get("template_id")), str(act.get("version") or ""), str(act.get("template_source") or ""))


@dataclass
class Measured:
    """What `measure` found: the unfolded size, and each distinct reference's (key, tree) as resolved."""

    nodes: int
    depth: int
    resolved: dict[tuple[str, str, str], tuple[Hashable, dict[str, Any]]]


def measure(tree: dict[str, Any], resolve: Resolve, ancestors: tuple[Hashable, ...] = (),
            budget: Budget | None = None, *, label: str = "the pipeline tree") -> Measured:
    """The size of `tree` once every SubProcess is unfolded, computed without unfolding.

    Each distinct reference is resolved and counted once (its count and depth are remembered),
    so the work is one pass over each distinct tree, whatever the fan-out. A depth over the
    budget, or a template that would include itself, is refused on the way down, before it is
    entered: the recursion below is at most the depth budget deep. The node count is exact
    and refused once known.
    """
    from pipeline_engine.errors import TreeInvalid

    budget = budget or Budget.configured()
    sizes: dict[tuple[str, str, str], tuple[int, int]] = {}
    resolved: dict[tuple[str, str, str], tuple[Hashable, dict[str, Any]]] = {}

    def walk(level: dict[str, Any], depth: int, above: tuple[Hashable, ...]) -> tuple[int, int]:
        nodes, deepest = level_nodes(level), 0
        for act in subprocess_nodes(level):
            if depth + 1 > budget.max_depth:
                raise budget.too_deep(label, act, depth + 1)
            inline = act.get("pipeline")
            if isinstance(inline, dict):
                count, below = walk(inline, depth + 1, above)
            else:
                ref = reference(act)
                if ref not in resolved:
                    resolved[ref] = resolve(act)
                key, child = resolved[ref]
                if key in above:
                    raise TreeInvalid(f"subprocess node[id={act.get('id')}] makes template[id={key}] include itself")
                if ref not in sizes:
                    sizes[ref] = walk(child, depth + 1, (*above, key))
                count, below = sizes[ref]
                if depth + 1 + below > budget.max_depth:
                    raise budget.too_deep(label, act, depth + 1 + below)
            nodes += count
            deepest = max(deepest, 1 + below)
        return nodes, deepest

    nodes, depth = walk(tree, 0, tuple(ancestors))
    if nodes > budget.max_nodes:
        raise budget.too_many(label, nodes)
    return Measured(nodes, depth, resolved)
