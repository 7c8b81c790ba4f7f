"""The compiled form of a web pipeline tree.

`compile_tree` turns the web tree (start_event, end_event, activities,
gateways, flows, constants, outputs) into plain objects the walker can follow
without re-reading dicts: each node knows its outgoing targets, each scope
(the root and every SubProcess) knows its constants and which node outputs
feed which constant. It does not validate; `validation.validate_tree` does,
and returns the same compiled form.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

START = "EmptyStartEvent"
END = "EmptyEndEvent"
ACTIVITY = "ServiceActivity"
SUBPROCESS = "SubProcess"
PARALLEL = "ParallelGateway"
EXCLUSIVE = "ExclusiveGateway"
CONDITIONAL_PARALLEL = "ConditionalParallelGateway"
CONVERGE = "ConvergeGateway"

GATEWAY_TYPES = frozenset({PARALLEL, EXCLUSIVE, CONDITIONAL_PARALLEL, CONVERGE})
FORK_TYPES = frozenset({PARALLEL, CONDITIONAL_PARALLEL})
CONDITIONAL_TYPES = frozenset({EXCLUSIVE, CONDITIONAL_PARALLEL})
NODE_TYPES = frozenset({START, END, ACTIVITY, SUBPROCESS}) | GATEWAY_TYPES

AUTO_RETRY_MAX_TIMES = 10
AUTO_RETRY_MAX_INTERVAL = 60


class TreeShapeError(ValueError):
    """The tree is not even well-formed enough to compile."""


def bare(key: str) -> str:
    """`${name}` -> `name`; a bare name is returned unchanged."""
    if isinstance(key, str) and key.startswith("${") and key.endswith("}"):
        return key[2:-1]
    return key


def as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if v]


# slots: a worker compiles every run's tree it meets (1,000 nodes of a chain are ~1,000
# objects), and slotted objects are built and read faster and weigh less in the tree cache.
@dataclass(slots=True)
class Node:
    id: str
    type: str
    name: str
    incoming: list[str]
    outgoing: list[str]
    targets: list[str] = field(default_factory=list)  # target node id per outgoing flow, same order
    # ServiceActivity
    code: str = ""
    version: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # key -> raw value
    error_ignorable: bool = False
    skippable: bool = True
    retryable: bool = True
    optional: bool = False
    timeout: float | None = None
    auto_retry_times: int = 0
    auto_retry_interval: float = 0.0
    # gateways
    conditions: dict[str, str] = field(default_factory=dict)  # flow id -> expression
    default_flow: str | None = None
    converge_id: str | None = None
    # SubProcess
    child: Scope | None = None
    # True when the walker may enter this node more than once (it is on a
    # cycle, or inside a subprocess that is).
    reenterable: bool = False

    def target_of(self, flow_id: str) -> str:
        return self.targets[self.outgoing.index(flow_id)]


@dataclass
class Scope:
    """The root pipeline or one SubProcess's pipeline."""

    path: str  # "" for the root, "sp1/sp2" for nested subprocesses
    start_id: str
    end_id: str
    nodes: dict[str, Node]
    flows: dict[str, tuple[str | None, str | None]]  # flow id -> (source, target), as written
    constants: dict[str, Any]  # bare name -> raw value
    constant_keys: dict[str, str]  # bare name -> key as written ("${name}")
    outputs: list[str]  # constant keys as written
    # node id -> [(bare constant name, output key)] for component_outputs constants
    output_map: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def key(self, node_id: str) -> str:
        return f"{self.path}/{node_id}" if self.path else node_id


@dataclass
class CompiledTree:
    root: Scope
    scopes: dict[str, Scope]  # path -> scope

    def scope_of_key(self, key: str) -> tuple[Scope, str]:
        path, _, node_id = key.rpartition("/")
        return self.scopes[path], node_id

    def node(self, key: str) -> Node:
        scope, node_id = self.scope_of_key(key)
        return scope.nodes[node_id]

    def find_keys(self, node_id: str) -> list[str]:
        """All keys (one per scope) of a node id, root first."""
        return [s.key(node_id) for s in self.scopes.values() if node_id in s.nodes]

    def detach(self) -> None:
        """Give the compiled tree its own copies of the web tree's nested values.

        Compiling keeps references to the web tree's input values and constants;
        a compiled tree that outlives the call (the runtime caches it) would
        otherwise change when its caller changes its dict. Scalars (most
        values) are shared safely; only dicts and lists are copied.
        """
        def own(values: dict[str, Any]) -> dict[str, Any]:
            if any(isinstance(v, dict | list) for v in values.values()):
                return {k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in values.items()}
            return values

        for scope in self.scopes.values():
            scope.constants = own(scope.constants)
            for node in scope.nodes.values():
                if node.data:
                    node.data = own(node.data)


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


# An activity's flags, with Node's defaults for when they are not written.
_ACTIVITY_FLAGS: tuple[tuple[str, bool], ...] = tuple(
    (f.name, bool(f.default)) for f in fields(Node) if f.name in {"error_ignorable", "skippable", "retryable", "optional"})


def _make_node(raw: dict[str, Any], path: str) -> Node:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise TreeShapeError(f"node without id: {raw!r:.80}")
    node_type = raw.get("type")
    if node_type not in NODE_TYPES:
        raise TreeShapeError(f"node {raw['id']} has unknown type {node_type!r}")
    node = Node(
        id=raw["id"],
        type=node_type,
        name=raw.get("name") or "",
        incoming=as_list(raw.get("incoming")),
        outgoing=as_list(raw.get("outgoing")),
    )
    if node_type == ACTIVITY:
        component = raw.get("component") or {}
        node.code = component.get("code") or ""
        node.version = component.get("version") or None
        data = component.get("data") or {}
        node.data = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in data.items()}
        for flag, unset in _ACTIVITY_FLAGS:  # a flag not written keeps Node's default
            value = raw.get(flag)
            if value is not None and value is not unset:
                setattr(node, flag, _bool(value, unset))
        timeout = raw.get("timeout")
        if timeout is not None:
            node.timeout = _number(timeout)
        auto_retry = raw.get("auto_retry")
        if auto_retry and isinstance(auto_retry, dict) and _bool(auto_retry.get("enable"), False):
            times = int(_number(auto_retry.get("times")) or 0)
            interval = _number(auto_retry.get("interval")) or 0.0
            node.auto_retry_times = min(times, AUTO_RETRY_MAX_TIMES)
            node.auto_retry_interval = min(interval, AUTO_RETRY_MAX_INTERVAL)
    elif node_type in CONDITIONAL_TYPES:
        conditions = raw.get("conditions") or {}
        node.conditions = {
            fid: (c.get("evaluate", "") if isinstance(c, dict) else str(c)) for fid, c in conditions.items()
        }
        default = raw.get("default_condition") or {}
        node.default_flow = default.get("flow_id") if isinstance(default, dict) else None
    if node_type in FORK_TYPES:
        node.converge_id = raw.get("converge_gateway_id") or None
    if node_type == SUBPROCESS:
        child_tree = raw.get("pipeline")
        if not isinstance(child_tree, dict):
            raise TreeShapeError(f"SubProcess {node.id} has no pipeline")
    return node


def compile_scope(tree: dict[str, Any], path: str, scopes: dict[str, Scope]) -> Scope:
    if not isinstance(tree, dict):
        raise TreeShapeError("pipeline tree must be an object")
    raw_nodes: list[dict[str, Any]] = []
    for part in ("start_event", "end_event"):
        if not isinstance(tree.get(part), dict) or not tree[part].get("id"):
            raise TreeShapeError(f"pipeline{' ' + path if path else ''} has no {part}")
        raw_nodes.append(tree[part])
    for part in ("activities", "gateways"):
        section = tree.get(part) or {}
        if not isinstance(section, dict):
            raise TreeShapeError(f"{part} must be an object")
        raw_nodes.extend(section.values())
    nodes: dict[str, Node] = {}
    for raw in raw_nodes:
        node = _make_node(raw, path)
        if node.id in nodes:
            raise TreeShapeError(f"duplicate node id {node.id}")
        nodes[node.id] = node
    if nodes[tree["start_event"]["id"]].type != START:
        raise TreeShapeError("start_event must be an EmptyStartEvent")
    if nodes[tree["end_event"]["id"]].type != END:
        raise TreeShapeError("end_event must be an EmptyEndEvent")

    flows: dict[str, tuple[str | None, str | None]] = {}
    for fid, flow in (tree.get("flows") or {}).items():
        if not isinstance(flow, dict):
            raise TreeShapeError(f"flow {fid} must be an object")
        flows[flow.get("id") or fid] = (flow.get("source"), flow.get("target"))
    for node in nodes.values():
        node.targets = [flows[f][1] if f in flows else "" for f in node.outgoing]  # type: ignore[misc]  # a flow without a target leaves None; validation reports that flow first

    constants: dict[str, Any] = {}
    constant_keys: dict[str, str] = {}
    output_map: dict[str, list[tuple[str, str]]] = {}
    for key, const in (tree.get("constants") or {}).items():
        name = bare(key)
        value = const.get("value") if isinstance(const, dict) else const
        constants[name] = value
        constant_keys[name] = key
        if isinstance(const, dict) and const.get("source_type") == "component_outputs":
            for node_id, out_keys in (const.get("source_info") or {}).items():
                for out_key in as_list(out_keys):
                    output_map.setdefault(node_id, []).append((name, out_key))

    scope = Scope(
        path=path,
        start_id=tree["start_event"]["id"],
        end_id=tree["end_event"]["id"],
        nodes=nodes,
        flows=flows,
        constants=constants,
        constant_keys=constant_keys,
        outputs=[k for k in as_list(tree.get("outputs"))],
        output_map=output_map,
    )
    scopes[path] = scope
    for node in nodes.values():
        if node.type == SUBPROCESS:
            child_path = f"{path}/{node.id}" if path else node.id
            node.child = compile_scope(_find_raw(tree, node.id)["pipeline"], child_path, scopes)
    _mark_reenterable(scope)
    return scope


def _find_raw(tree: dict[str, Any], node_id: str) -> dict[str, Any]:
    return (tree.get("activities") or {}).get(node_id) or {}


def _mark_reenterable(scope: Scope, inherited: bool = False) -> None:
    """Flag nodes on a cycle (and everything inside a subprocess on one)."""
    on_cycle = _nodes_on_cycles(scope)
    for node in scope.nodes.values():
        node.reenterable = inherited or node.id in on_cycle
        if node.child is not None and node.reenterable:
            _mark_reenterable(node.child, inherited=True)


def _nodes_on_cycles(scope: Scope) -> set[str]:
    """Nodes in a strongly connected component with a cycle.

    Most trees have no cycle: peeling off nodes with no incoming edge left (Kahn's
    topological sort) proves that in one cheap pass. Only what is left after the peel
    (the cycles and what lies downstream of them) goes to Tarjan's search.
    """
    nodes = scope.nodes
    targets = {node_id: [t for t in node.targets if t in nodes] for node_id, node in nodes.items()}
    indegree = dict.fromkeys(nodes, 0)
    for outs in targets.values():
        for target in outs:
            indegree[target] += 1
    free = [node_id for node_id, n in indegree.items() if n == 0]
    while free:
        node_id = free.pop()
        del indegree[node_id]
        for target in targets[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                free.append(target)
    if not indegree:
        return set()
    return _tarjan_cycles(list(indegree), {n: [t for t in targets[n] if t in indegree] for n in indegree})


def _tarjan_cycles(roots: list[str], targets: dict[str, list[str]]) -> set[str]:
    """The members of strongly connected components with a cycle (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: set[str] = set()
    counter = 0
    for root in roots:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node_id, i = work.pop()
            if i == 0:
                index[node_id] = low[node_id] = counter
                counter += 1
                stack.append(node_id)
                on_stack.add(node_id)
            outs = targets[node_id]
            if i < len(outs):
                work.append((node_id, i + 1))
                nxt = outs[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node_id] = min(low[node_id], index[nxt])
                continue
            if low[node_id] == index[node_id]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node_id:
                        break
                if len(component) > 1 or node_id in outs:
                    result.update(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node_id])
    return result


def compile_tree(tree: dict[str, Any]) -> CompiledTree:
    scopes: dict[str, Scope] = {}
    root = compile_scope(tree, "", scopes)
    return CompiledTree(root=root, scopes=scopes)
