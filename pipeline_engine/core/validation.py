"""Structural and reference rules a tree must pass before it runs.

Each rule's message names the node (id and name) and the rule broken, so an
operator can fix the template without reading engine code. The rules of
one kind of node live with that kind (core.nodes: `check_shape`,
`check_references`); this module runs them, with the rules on flows and
reachability that concern the whole scope. Validation also computes `converge_gateway_id` for every parallel / conditional parallel
gateway (writing it into the web tree, as callers expect) and returns the
compiled tree.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from pipeline_engine.errors import TreeInvalid

from . import expansion
from . import tree as t
from .nodes import KINDS
from .nodes.base import Names, label
from .nodes.converge_gateway import match_forks


def compile_checked(tree: dict[str, Any]) -> t.CompiledTree:
    """Compile a web tree; one too malformed to compile, or over the expansion budget, raises TreeInvalid."""
    try:
        # First, and without recursion: compiling recurses per SubProcess level.
        expansion.check(tree)
        return t.compile_tree(tree)
    except (t.TreeShapeError, KeyError, TypeError, AttributeError) as exc:
        raise TreeInvalid(f"pipeline tree is malformed: {exc}") from exc


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, message: str) -> None:
        self.errors.append(message)


def validate_tree(tree: dict[str, Any], *, check_components: bool = True,
                  fill_converges: bool = True) -> t.CompiledTree:
    """Validate `tree` (a web tree); raise TreeInvalid, or return it compiled.

    Side effect (unless `fill_converges` is False): fills `converge_gateway_id`
    of fork gateways in `tree`. The compiled tree always has them.
    """
    compiled = compile_checked(tree)
    errors = _Collector()
    _validate_scope(compiled.root, errors, check_components)
    if fill_converges:
        fill_converge_ids(tree, compiled)  # also when invalid, as callers always saw
    if errors.errors:
        shown = errors.errors[:5]
        more = len(errors.errors) - len(shown)
        raise TreeInvalid("; ".join(shown) + (f"; and {more} more" if more > 0 else ""))
    return compiled


def _raw_scopes(raw: dict[str, Any], scope: t.Scope) -> Any:
    """(raw web tree, compiled scope) of the root and every nested subprocess."""
    yield raw, scope
    for node in scope.nodes.values():
        if node.child is not None:
            child = ((raw.get("activities") or {}).get(node.id) or {}).get("pipeline")
            if isinstance(child, dict):
                yield from _raw_scopes(child, node.child)


def missing_converge_ids(tree: dict[str, Any], compiled: t.CompiledTree) -> bool:
    """Whether `fill_converge_ids` would change `tree` (a caller that must not see
    its tree changed copies it only then)."""
    for raw, scope in _raw_scopes(tree, compiled.root):
        gateways = raw.get("gateways") or {}
        for node in scope.nodes.values():
            if node.converge_id:  # only fork gateways have one
                gw = gateways.get(node.id)
                if isinstance(gw, dict) and gw.get("converge_gateway_id") != node.converge_id:
                    return True
    return False


def fill_converge_ids(tree: dict[str, Any], compiled: t.CompiledTree) -> None:
    """Write the computed `converge_gateway_id` of every fork gateway into the web tree."""
    for raw, scope in _raw_scopes(tree, compiled.root):
        gateways = raw.get("gateways") or {}
        for node in scope.nodes.values():
            if node.converge_id and isinstance(gateways.get(node.id), dict):  # only fork gateways have one
                gateways[node.id]["converge_gateway_id"] = node.converge_id


def _validate_scope(scope: t.Scope, errors: _Collector, check_components: bool) -> None:
    before = len(errors.errors)
    _check_flows_and_degrees(scope, errors)
    if len(errors.errors) == before:
        _check_reachability(scope, errors)
    if len(errors.errors) == before:
        match_forks(scope, errors.add)
    _check_references(scope, errors, check_components)
    for node in scope.nodes.values():
        if node.child is not None:
            _validate_scope(node.child, errors, check_components)


def _check_flows_and_degrees(scope: t.Scope, errors: _Collector) -> None:
    """Flows join existing nodes; then each kind's rules on its degrees and its own fields."""
    # No rule counts incoming flows (a converge's are counted by match_forks): only whether one exists.
    targeted: set[str] = set()
    for fid, (source, target) in scope.flows.items():
        if source not in scope.nodes:
            errors.add(f"flow {fid} starts at unknown node {source}")
        if target not in scope.nodes:
            errors.add(f"flow {fid} ends at unknown node {target}")
        else:
            targeted.add(target)
    for node in scope.nodes.values():
        for fid in node.outgoing:
            if fid not in scope.flows:
                errors.add(f"{label(node)}: outgoing flow {fid} does not exist")
            elif scope.flows[fid][0] != node.id:
                errors.add(f"{label(node)}: outgoing flow {fid} starts at another node")
        out_degree = len(node.outgoing)
        reached = node.id in targeted
        if not reached and not out_degree and node.type not in (t.START, t.END):
            errors.add(f"{label(node)}: is isolated (no incoming or outgoing flows)")
            continue
        KINDS[node.type].check_shape(scope, node, reached, out_degree, errors.add)


def _check_reachability(scope: t.Scope, errors: _Collector) -> None:
    seen = {scope.start_id}
    queue = deque([scope.start_id])
    while queue:
        for target in scope.nodes[queue.popleft()].targets:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    # Runs only once every node has the flows its kind needs (isolated nodes were
    # reported then): a node not seen here is on a part of the graph the start never leads to.
    for node in scope.nodes.values():
        if node.id not in seen:
            errors.add(f"{label(node)}: is not reachable from the start event")


def _check_references(scope: t.Scope, errors: _Collector, check_components: bool) -> None:
    """Each kind's rules on the variables its node references (and its component)."""
    names = Names(set(scope.constants))
    for node in scope.nodes.values():
        check = KINDS[node.type].check_references
        if check is not None:
            check(node, names, errors.add, check_components)
