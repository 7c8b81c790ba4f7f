"""Structural and reference rules a tree must pass before it runs.

Each rule's message names the node (id and name) and the rule broken, so an
operator can fix the template without reading engine code. Validation also
computes `converge_gateway_id` for every parallel / conditional parallel
gateway (writing it into the web tree, as callers expect) and returns the
compiled tree.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from pipeline_engine.errors import TreeInvalid

from . import tree as t
from .expressions import FRAGMENT_RE, references

MAX_BRANCHES = 1000

# Names a `${...}` may use without a constant defining them: runtime values
# the engine puts in every node's context, and system namespaces the task
# layer may provide.
SYSTEM_NAMES = frozenset({"_loop", "_inner_loop", "_result", "_system", "_env"})
SYSTEM_PREFIXES = ("_system", "_env_")


def is_system_name(name: str) -> bool:
    return name in SYSTEM_NAMES or name.startswith(SYSTEM_PREFIXES)


def _label(node: t.Node) -> str:
    return f"{node.type} {node.id}" + (f" ({node.name})" if node.name else "")


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
    try:
        compiled = t.compile_tree(tree)
    except (t.TreeShapeError, KeyError, TypeError, AttributeError) as exc:
        raise TreeInvalid(f"pipeline tree is malformed: {exc}") from exc
    errors = _Collector()
    _validate_scope(compiled.root, tree, errors, check_components)
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
            if node.type in t.FORK_TYPES and node.converge_id:
                gw = gateways.get(node.id)
                if isinstance(gw, dict) and gw.get("converge_gateway_id") != node.converge_id:
                    return True
    return False


def fill_converge_ids(tree: dict[str, Any], compiled: t.CompiledTree) -> None:
    """Write the computed `converge_gateway_id` of every fork gateway into the web tree."""
    for raw, scope in _raw_scopes(tree, compiled.root):
        gateways = raw.get("gateways") or {}
        for node in scope.nodes.values():
            if node.type in t.FORK_TYPES and node.converge_id and isinstance(gateways.get(node.id), dict):
                gateways[node.id]["converge_gateway_id"] = node.converge_id


def _validate_scope(scope: t.Scope, raw_tree: dict[str, Any], errors: _Collector, check_components: bool) -> None:
    before = len(errors.errors)
    _check_flows_and_degrees(scope, errors)
    if len(errors.errors) == before:
        _check_reachability(scope, errors)
    if len(errors.errors) == before:
        _match_converges(scope, raw_tree, errors)
    _check_nodes(scope, errors, check_components)
    for node in scope.nodes.values():
        if node.child is not None:
            raw_child = (raw_tree.get("activities") or {}).get(node.id, {}).get("pipeline") or {}
            _validate_scope(node.child, raw_child, errors, check_components)


def _check_flows_and_degrees(scope: t.Scope, errors: _Collector) -> None:
    incoming: dict[str, int] = {nid: 0 for nid in scope.nodes}
    for fid, (source, target) in scope.flows.items():
        if source not in scope.nodes:
            errors.add(f"flow {fid} starts at unknown node {source}")
        if target not in scope.nodes:
            errors.add(f"flow {fid} ends at unknown node {target}")
        else:
            incoming[target] += 1
    for node in scope.nodes.values():
        for fid in node.outgoing:
            if fid not in scope.flows:
                errors.add(f"{_label(node)}: outgoing flow {fid} does not exist")
            elif scope.flows[fid][0] != node.id:
                errors.add(f"{_label(node)}: outgoing flow {fid} starts at another node")
        out_degree = len(node.outgoing)
        in_degree = incoming[node.id]
        if not in_degree and not out_degree and node.type not in (t.START, t.END):
            errors.add(f"{_label(node)}: is isolated (no incoming or outgoing flows)")
            continue
        if node.type == t.START:
            if in_degree:
                errors.add(f"{_label(node)}: a start event cannot be the target of a flow")
            if out_degree != 1:
                errors.add(f"{_label(node)}: a start event needs exactly one outgoing flow, has {out_degree}")
            elif node.targets[0] == scope.end_id:
                errors.add(f"{_label(node)}: the start event cannot link straight to the end event")
        elif node.type == t.END:
            if out_degree:
                errors.add(f"{_label(node)}: an end event cannot have outgoing flows")
            if not in_degree:
                errors.add(f"{_label(node)}: the end event is not the target of any flow")
        elif node.type in (t.ACTIVITY, t.SUBPROCESS, t.CONVERGE):
            if not in_degree:
                errors.add(f"{_label(node)}: needs at least one incoming flow (not reachable from the start event)")
            if out_degree != 1:
                errors.add(f"{_label(node)}: needs exactly one outgoing flow, has {out_degree}")
        else:  # divergent gateways
            if not in_degree:
                errors.add(f"{_label(node)}: needs at least one incoming flow (not reachable from the start event)")
            if not 1 <= out_degree <= MAX_BRANCHES:
                errors.add(f"{_label(node)}: needs 1 to {MAX_BRANCHES} outgoing flows, has {out_degree}")
        if node.type in t.CONDITIONAL_TYPES:
            for fid in node.conditions:
                if fid not in node.outgoing:
                    errors.add(f"{_label(node)}: condition on flow {fid} which is not one of its outgoing flows")
            if node.default_flow and node.default_flow not in node.outgoing:
                errors.add(f"{_label(node)}: default flow {node.default_flow} is not one of its outgoing flows")


def _check_reachability(scope: t.Scope, errors: _Collector) -> None:
    seen = {scope.start_id}
    queue = deque([scope.start_id])
    while queue:
        for target in scope.nodes[queue.popleft()].targets:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    for node in scope.nodes.values():
        if node.id not in seen:
            isolated = not node.incoming and not node.outgoing
            rule = "is isolated (no flows)" if isolated else "is not reachable from the start event"
            errors.add(f"{_label(node)}: {rule}")


def _find_converge(scope: t.Scope, fork: t.Node) -> str | None:
    """The nearest converge gateway every branch of `fork` reaches."""
    frontiers = [deque([target]) for target in fork.targets]
    visited = [{target} for target in fork.targets]
    reached_by: dict[str, int] = {}
    branches = len(frontiers)
    while any(frontiers):
        candidates: list[str] = []
        for i, frontier in enumerate(frontiers):
            for _ in range(len(frontier)):  # one BFS layer per branch per round
                node_id = frontier.popleft()
                node = scope.nodes[node_id]
                if node.type == t.CONVERGE:
                    reached_by[node_id] = reached_by.get(node_id, 0) + 1
                    if reached_by[node_id] == branches:
                        candidates.append(node_id)
                if node_id == fork.id:
                    continue
                for target in node.targets:
                    if target not in visited[i]:
                        visited[i].add(target)
                        frontier.append(target)
        if candidates:
            return candidates[0]
    return None


def _branch_nodes(scope: t.Scope, start: str, fork: t.Node, converge: str) -> tuple[set[str], str | None]:
    """Nodes of one branch up to the converge gateway, and a rule it breaks."""
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        node_id = queue.popleft()
        if node_id == converge or node_id in seen:
            continue
        if node_id == fork.id:
            return seen, "a branch leads back to its own parallel gateway"
        if node_id == scope.end_id:
            return seen, "a branch reaches the end event without passing its converge gateway"
        seen.add(node_id)
        queue.extend(scope.nodes[node_id].targets)
    return seen, None


def _match_converges(scope: t.Scope, raw_tree: dict[str, Any], errors: _Collector) -> None:
    owner: dict[str, str] = {}
    for fork in scope.nodes.values():
        if fork.type not in t.FORK_TYPES:
            continue
        converge = _find_converge(scope, fork)
        if converge is None:
            errors.add(f"{_label(fork)}: its branches do not meet at one converge gateway")
            continue
        if fork.converge_id and fork.converge_id != converge:
            if fork.converge_id not in scope.nodes or scope.nodes[fork.converge_id].type != t.CONVERGE:
                errors.add(f"{_label(fork)}: converge_gateway_id {fork.converge_id} is not a converge gateway")
                continue
            errors.add(f"{_label(fork)}: converge_gateway_id {fork.converge_id} is not where its branches meet "
                       f"({converge})")
            continue
        if converge in owner:
            errors.add(f"ConvergeGateway {converge}: collects branches of two parallel gateways "
                       f"({owner[converge]} and {fork.id})")
            continue
        owner[converge] = fork.id
        fork.converge_id = converge  # validate_tree writes it into the web tree afterwards
        conv_node = scope.nodes[converge]
        if len(conv_node.incoming or [f for f, (_, tg) in scope.flows.items() if tg == converge]) < len(fork.targets):
            errors.add(f"ConvergeGateway {converge}: has fewer incoming flows than {_label(fork)} has branches")
        branch_of: dict[str, int] = {}
        for i, start in enumerate(fork.targets):
            nodes, broken = _branch_nodes(scope, start, fork, converge)
            if broken:
                errors.add(f"{_label(fork)}: {broken}")
                break
            shared = next((n for n in nodes if n in branch_of and branch_of[n] != i), None)
            if shared is not None:
                errors.add(f"{_label(scope.nodes[shared])}: reachable from two parallel branches of {_label(fork)}")
                break
            branch_of.update(dict.fromkeys(nodes, i))


def _check_nodes(scope: t.Scope, errors: _Collector, check_components: bool) -> None:
    known = set(scope.constants)

    def unknown_refs(value: Any) -> list[str]:
        return sorted(n for n in references(value) if n not in known and not is_system_name(n))

    def unknown_input_refs(value: Any) -> list[str]:
        # Only a value that is exactly one `${...}` is certainly a variable. Inside
        # longer text (a script body) `${HOME}` may be the shell's; like the
        # original, an unknown fragment there renders literally instead of
        # refusing the tree.
        if isinstance(value, dict):
            return sorted({n for v in value.values() for n in unknown_input_refs(v)})
        if isinstance(value, list):
            return sorted({n for v in value for n in unknown_input_refs(v)})
        if isinstance(value, str) and FRAGMENT_RE.fullmatch(value.strip()):
            return unknown_refs(value)
        return []

    for node in scope.nodes.values():
        if node.type == t.ACTIVITY:
            if not node.code:
                errors.add(f"{_label(node)}: has no component code")
            elif check_components:
                from .components import get_component  # imported late: components import plugins

                try:
                    get_component(node.code, node.version)
                except KeyError:
                    errors.add(f"{_label(node)}: component {node.code} (version {node.version or 'legacy'}) "
                               f"is not registered")
            for key, value in node.data.items():
                missing = unknown_input_refs(value)
                if missing:
                    names = ", ".join(f"${{{n}}}" for n in missing)
                    errors.add(f"{_label(node)}: input {key} references undefined variable {names}")
        elif node.type in t.CONDITIONAL_TYPES:
            for fid, expression in node.conditions.items():
                missing = unknown_refs(expression)
                if missing:
                    names = ", ".join(f"${{{n}}}" for n in missing)
                    errors.add(f"{_label(node)}: condition of flow {fid} references undefined variable {names}")
