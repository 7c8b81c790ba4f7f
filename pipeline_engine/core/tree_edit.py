"""Editing web pipeline trees before they run: what a task does to its template's tree.

`prepare_task_tree` applies what the caller asked for, in the original's
order: exclude optional nodes (reconnecting flows), drop parallel branches
that became empty, prune constants nothing refers to, then merge the caller's
constant values. `unfold_subprocesses` puts the tree of every SubProcess that
names another template in place, through a resolver the caller passes (the
engine knows no templates). `regenerate_ids` gives every node and flow a fresh
id and rewrites every reference. `find_node` and `node_names` read trees.

All are pure functions on plain dicts (no Django), built on the core's node
types (core.tree), its reference finder (expressions.references) and its
converge finder (nodes.converge_gateway). Errors are TreeInvalid.
`prepare_task_tree` and `regenerate_ids` never mutate their argument;
`unfold_subprocesses` and `merge_constants` change the tree they are given.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from pipeline_engine.errors import TreeInvalid

from . import expansion, jsontext
from . import tree as t
from .expressions import references
from .nodes.converge_gateway import find_converge as _find_converge
from .tree import as_list

# What `unfold_subprocesses` asks the caller for a SubProcess node that names a
# template: a key naming that template (to refuse cycles) and a copy of its tree.
Resolver = Callable[[dict[str, Any]], tuple[Hashable, dict[str, Any]]]


# --- small helpers ---------------------------------------------------------------------------------

def _shaped_like(original: Any, ids: list[str]) -> Any:
    """Write flow ids back in the form the node used (a list stays a list; one id stays a string)."""
    if isinstance(original, list) or len(ids) > 1:
        return ids
    return ids[0] if ids else ""


def all_nodes(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every node of one tree level by id (start, end, activities, gateways)."""
    nodes: dict[str, dict[str, Any]] = {}
    for key in ("start_event", "end_event"):
        node = tree.get(key)
        if isinstance(node, dict) and node.get("id"):
            nodes[node["id"]] = node
    nodes.update(tree.get("activities") or {})
    nodes.update(tree.get("gateways") or {})
    return nodes


def referenced_keys(value: Any) -> set[str]:
    """Constant keys (`${name}`) the `${...}` fragments inside `value` refer to."""
    return {"${" + name + "}" for name in references(value)}


def _require_object(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TreeInvalid(f"{name} must be an object")
    return value


# --- exclusion --------------------------------------------------------------------------------------

def _drop_layout(tree: dict[str, Any], *, node_ids: Iterable[str] = (), flow_ids: Iterable[str] = ()) -> None:
    node_ids, flow_ids = set(node_ids), set(flow_ids)
    if isinstance(tree.get("line"), list) and flow_ids:
        tree["line"] = [ln for ln in tree["line"] if ln.get("id") not in flow_ids]
    if isinstance(tree.get("location"), list) and node_ids:
        tree["location"] = [loc for loc in tree["location"] if loc.get("id") not in node_ids]


def _retarget_lines(tree: dict[str, Any], flow_ids: Iterable[str], target: str) -> None:
    flow_ids = set(flow_ids)
    for line in tree.get("line") or []:
        if line.get("id") in flow_ids and isinstance(line.get("target"), dict):
            line["target"]["id"] = target


def _splice(tree: dict[str, Any], node_id: str, incoming: list[str], outgoing_flow_ids: list[str],
            target_id: str) -> None:
    """Make `incoming` flows point at `target_id`, deleting the node's `outgoing_flow_ids`."""
    flows = tree["flows"]
    nodes = all_nodes(tree)
    for fid in incoming:
        flows[fid]["target"] = target_id
    target = nodes[target_id]
    kept = [f for f in as_list(target.get("incoming")) if f not in outgoing_flow_ids]
    target["incoming"] = _shaped_like(target.get("incoming"), kept + [f for f in incoming if f not in kept])
    for fid in outgoing_flow_ids:
        flows.pop(fid, None)
    _retarget_lines(tree, incoming, target_id)
    _drop_layout(tree, node_ids=[node_id], flow_ids=outgoing_flow_ids)


def exclude_node(tree: dict[str, Any], node_id: str) -> None:
    """Remove one optional activity, connecting its incoming flows to its successor."""
    act = tree["activities"][node_id]
    outgoing = as_list(act.get("outgoing"))
    if len(outgoing) != 1:
        raise TreeInvalid(f"task node[id={node_id}] cannot be excluded: it has {len(outgoing)} outgoing flows")
    target_id = tree["flows"][outgoing[0]]["target"]
    _splice(tree, node_id, as_list(act.get("incoming")), outgoing, target_id)
    del tree["activities"][node_id]


def find_converge(tree: dict[str, Any], gateway_id: str) -> str | None:
    """The converge gateway of a divergent gateway: the declared one, else where its branches meet."""
    gateway = tree["gateways"][gateway_id]
    declared = gateway.get("converge_gateway_id")
    if declared and declared in tree["gateways"]:
        return str(declared)
    flows, nodes = tree.get("flows") or {}, all_nodes(tree)

    def successors(node_id: str) -> list[str]:
        node = nodes.get(node_id)
        if node is None:
            return []
        return [flows[f]["target"] for f in as_list(node.get("outgoing")) if f in flows]

    def is_converge(node_id: str) -> bool:
        return node_id in nodes and nodes[node_id].get("type") == t.CONVERGE

    return _find_converge(gateway_id, successors(gateway_id), successors, is_converge)


def remove_useless_parallel(tree: dict[str, Any]) -> None:
    """Drop parallel branches that go straight to their converge; drop the pair if none is left.

    Only ParallelGateway is trimmed (as the newest original): a conditional parallel
    gateway's conditions name its flows, and exclusive gateways are never trimmed.
    """
    changed = True
    while changed:
        changed = False
        gateways = tree.get("gateways") or {}
        for gid, gateway in list(gateways.items()):
            if gateway.get("type") != t.PARALLEL:
                continue
            cid = find_converge(tree, gid)
            if cid is None:
                continue
            converge = gateways[cid]
            out = as_list(gateway.get("outgoing"))
            empty = [f for f in out if tree["flows"][f]["target"] == cid]
            if not empty:
                continue
            if len(empty) < len(out):
                gateway["outgoing"] = [f for f in out if f not in empty]
                converge["incoming"] = [f for f in as_list(converge.get("incoming")) if f not in empty]
                for fid in empty:
                    tree["flows"].pop(fid, None)
                _drop_layout(tree, flow_ids=empty)
            else:
                # Every branch is empty: splice the gateway's predecessors to what follows the converge.
                c_out = as_list(converge.get("outgoing"))
                after = tree["flows"][c_out[0]]["target"]
                for fid in empty:
                    tree["flows"].pop(fid, None)
                _drop_layout(tree, node_ids=[gid, cid], flow_ids=empty)
                _splice(tree, cid, as_list(gateway.get("incoming")), c_out, after)
                del gateways[gid]
                del gateways[cid]
            # The converge may have been recorded on the gateway; it is still right if both remain.
            changed = True
            break


# --- constants ------------------------------------------------------------------------------------

def _roots(tree: dict[str, Any]) -> set[str]:
    """Constants the remaining nodes and gateway conditions refer to directly."""
    used: set[str] = set()
    for act in (tree.get("activities") or {}).values():
        if act.get("type") == t.ACTIVITY:
            used |= referenced_keys(((act.get("component") or {}).get("data")) or {})
        elif act.get("type") == t.SUBPROCESS:
            for const in (act.get("constants") or {}).values():
                if isinstance(const, dict) and const.get("show_type", "show") == "show":
                    used |= referenced_keys(const.get("value"))
    for gateway in (tree.get("gateways") or {}).values():
        if gateway.get("type") in t.CONDITIONAL_TYPES:
            for cond in (gateway.get("conditions") or {}).values():
                if isinstance(cond, dict):
                    used |= referenced_keys(cond.get("evaluate"))
    return used


def remove_useless_constants(tree: dict[str, Any], excluded: Iterable[str] = ()) -> None:
    """Keep only constants in use (transitively) and component outputs of remaining nodes; re-index."""
    constants: dict[str, dict[str, Any]] = tree.get("constants") or {}
    excluded = set(excluded)
    present = set(all_nodes(tree))
    keep: set[str] = set()
    for key, const in constants.items():
        info = const.get("source_info")
        info = info if isinstance(info, dict) else {}
        if const.get("source_type") == "component_outputs":
            # Outputs of a node still in the tree feed the context; an excluded node's never will.
            if not info or set(info) & present:
                keep.add(key)
        if excluded & set(info):
            const["source_info"] = {k: v for k, v in info.items() if k not in excluded}
    pending = list((_roots(tree) & set(constants)) | keep)
    while pending:
        key = pending.pop()
        keep.add(key)
        for ref in referenced_keys(constants[key].get("value")):
            if ref in constants and ref not in keep:
                pending.append(ref)

    ordered = sorted((k for k in constants if k in keep), key=lambda k: (_index(constants[k]), k))
    tree["constants"] = {}
    for i, key in enumerate(ordered):
        constants[key]["index"] = i
        tree["constants"][key] = constants[key]
    tree["outputs"] = [k for k in (tree.get("outputs") or []) if k in keep]


def _index(const: dict[str, Any]) -> int:
    try:
        return int(const.get("index", 0))
    except (TypeError, ValueError):
        return 0


def merge_constants(tree: dict[str, Any], constants: dict[str, Any] | None) -> None:
    """Give the tree's constants the caller's values (in place).

    Only keys the tree defines take a value; others are ignored, as the original.
    """
    constants = _require_object("constants", constants)
    defined = tree.get("constants") or {}
    for key, value in constants.items():
        if key in defined:
            defined[key]["value"] = value


def json_copy(tree: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON tree that shares nothing with it (jsontext.copy)."""
    copied: dict[str, Any] = jsontext.copy(tree)
    return copied


def prepare_task_tree(tree: dict[str, Any], *, exclude_task_nodes_id: list[str] | None = None,
                      constants: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `tree` with the optional nodes excluded, the structure tidied, constants pruned and merged."""
    constants = _require_object("constants", constants)
    tree = json_copy(tree)
    tree.setdefault("activities", {})
    tree.setdefault("gateways", {})
    tree.setdefault("flows", {})  # constants and outputs are rewritten by remove_useless_constants
    excluded = list(dict.fromkeys(exclude_task_nodes_id or []))
    for node_id in excluded:
        act = tree["activities"].get(node_id)
        if act is None:
            raise TreeInvalid(f"task node[id={node_id}] is not in template pipeline tree")
        if not act.get("optional"):
            raise TreeInvalid(f"task node[id={node_id}] is not optional")
    for node_id in excluded:
        exclude_node(tree, node_id)
    if excluded:
        remove_useless_parallel(tree)
    remove_useless_constants(tree, excluded)
    merge_constants(tree, constants)
    return tree


# --- subprocesses ---------------------------------------------------------------------------------

def unfold_subprocesses(tree: dict[str, Any], resolve: Resolver, ancestors: tuple[Hashable, ...] = (), *,
                        budget: expansion.Budget | None = None,
                        label: str = "the pipeline tree") -> dict[str, Any]:
    """Put each SubProcess node's template tree into its `pipeline`, at every level, in place.

    `resolve(node)` returns (a key naming the template, its tree) and raises the
    caller's own error when the node names nothing usable; it is asked once per
    distinct (template_id, version, template_source), and every node naming
    that gets its own copy. The
    node's own `constants` (the values the parent gives the child) overwrite
    the child's. Nodes that already carry a `pipeline` (inline, or a periodic
    snapshot) keep it, and their trees are unfolded in turn. `ancestors` are
    the templates the tree already sits in (a template being saved is its own
    ancestor): naming one of them would make the template include itself.

    The expansion budget (core/expansion.py) is measured first, each distinct
    template counted once, so a tree that fans out or nests too far is refused
    before anything is copied; the error names `label`. The unfolding itself is
    iterative and counted again as it goes.
    """
    budget = budget or expansion.Budget.configured()
    # Each distinct template is resolved once, here; every node naming it gets a copy below.
    resolved = expansion.measure(tree, resolve, ancestors, budget, label=label).resolved
    tally = expansion.Tally(budget, label)
    stack: list[tuple[dict[str, Any], int, tuple[Hashable, ...]]] = [(tree, 0, tuple(ancestors))]
    while stack:
        level, depth, above = stack.pop()
        tally.add_level(level)
        for act in expansion.subprocess_nodes(level):
            tally.enter(act, depth + 1)
            inline = act.get("pipeline")
            if isinstance(inline, dict):
                stack.append((inline, depth + 1, above))
                continue
            ref = expansion.reference(act)
            if ref in resolved:
                key, child = resolved[ref][0], copy.deepcopy(resolved[ref][1])
            else:  # pragma: no cover - measure resolved every reference it met
                key, child = resolve(act)
            if key in above:
                raise TreeInvalid(f"subprocess node[id={act.get('id')}] makes template[id={key}] include itself")
            child.pop("form", None)
            child_constants = child.setdefault("constants", {})
            for const_key, given in (act.get("constants") or {}).items():
                if const_key in child_constants and isinstance(given, dict):
                    child_constants[const_key] = {**child_constants[const_key], "value": given.get("value")}
                elif isinstance(given, dict):
                    child_constants[const_key] = copy.deepcopy(given)
            act["pipeline"] = child
            stack.append((child, depth + 1, (*above, key)))
    return tree


# --- id regeneration ------------------------------------------------------------------------------

def node_uniqid() -> str:
    return "node" + uuid.uuid4().hex[:28]


def line_uniqid() -> str:
    return "line" + uuid.uuid4().hex[:28]


def _renamed(mapping: dict[str, str], value: Any) -> Any:
    """The new id of an id, or the value as it is (not an id of this level, or no id)."""
    return mapping.get(value, value) if isinstance(value, str) else value


def _map_refs(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [mapping.get(v, v) for v in value]
    if isinstance(value, str):
        return mapping.get(value, value)
    return value


def regenerate_ids(tree: dict[str, Any]) -> dict[str, Any]:
    """A copy of `tree` where every node and flow has a fresh id ("node"/"line" + 28 hex).

    Each tree level gets its own mapping: two SubProcess nodes unfolded from the same
    template carry the same ids and must end up with different ones. A SubProcess's
    `pipeline.id` becomes the new id of its activity.
    """
    # A JSON round trip, not deepcopy: deepcopy keeps aliasing, and two SubProcess nodes
    # sharing one `pipeline` object would then be renamed twice in place.
    tree = json_copy(tree)
    _regenerate_level(tree)
    return tree


def _regenerate_level(tree: dict[str, Any], new_root_id: str | None = None) -> None:
    mapping: dict[str, str] = {}
    for node_id in all_nodes(tree):
        mapping[node_id] = node_uniqid()
    for flow_id in tree.get("flows") or {}:
        mapping[flow_id] = line_uniqid()
    if new_root_id is not None:
        tree["id"] = new_root_id
    elif tree.get("id"):
        tree["id"] = node_uniqid()

    def fix_node(node: dict[str, Any]) -> dict[str, Any]:
        node["id"] = _renamed(mapping, node.get("id"))
        for key in ("incoming", "outgoing"):
            if key in node:
                node[key] = _map_refs(node[key], mapping)
        if isinstance(node.get("conditions"), dict):
            node["conditions"] = {mapping.get(k, k): v for k, v in node["conditions"].items()}
        if isinstance(node.get("default_condition"), dict) and "flow_id" in node["default_condition"]:
            node["default_condition"]["flow_id"] = mapping.get(node["default_condition"]["flow_id"],
                                                               node["default_condition"]["flow_id"])
        if node.get("converge_gateway_id"):
            node["converge_gateway_id"] = mapping.get(node["converge_gateway_id"], node["converge_gateway_id"])
        inputs = (node.get("data") or {}).get("inputs") if isinstance(node.get("data"), dict) else None
        if isinstance(inputs, dict):
            for item in inputs.values():
                if isinstance(item, dict) and "source_act" in item:
                    item["source_act"] = _map_refs(item["source_act"], mapping)
        return node

    for key in ("start_event", "end_event"):
        if isinstance(tree.get(key), dict):
            fix_node(tree[key])
    for old_id, act in (tree.get("activities") or {}).items():
        # The id the node had in its template, as the original keeps it: the execution-time history
        # of get_task_node_data finds a template node's runs across tasks by it. Kept once set, so a
        # task copied from a task still names the template's node.
        if isinstance(act, dict):
            act.setdefault("template_node_id", old_id)
    for group in ("activities", "gateways"):
        old = tree.get(group) or {}
        tree[group] = {mapping.get(k, k): fix_node(v) for k, v in old.items()}
    for act in tree["activities"].values():
        if act.get("type") == t.SUBPROCESS and isinstance(act.get("pipeline"), dict):
            _regenerate_level(act["pipeline"], new_root_id=act["id"])
    flows = tree.get("flows") or {}
    new_flows = {}
    for fid, flow in flows.items():
        flow["id"] = mapping[fid]  # every flow of the level is in the mapping
        flow["source"] = _renamed(mapping, flow.get("source"))
        flow["target"] = _renamed(mapping, flow.get("target"))
        new_flows[flow["id"]] = flow
    tree["flows"] = new_flows
    for const in (tree.get("constants") or {}).values():
        if isinstance(const, dict) and isinstance(const.get("source_info"), dict):
            const["source_info"] = {mapping.get(k, k): v for k, v in const["source_info"].items()}
    for line in tree.get("line") or []:
        if not isinstance(line, dict):
            continue
        line["id"] = _renamed(mapping, line.get("id"))
        for end in ("source", "target"):
            if isinstance(line.get(end), dict):
                line[end]["id"] = _renamed(mapping, line[end].get("id"))
    for loc in tree.get("location") or []:
        if isinstance(loc, dict):
            loc["id"] = _renamed(mapping, loc.get("id"))


def find_node(tree: dict[str, Any], node_id: str,
              stack: list[str] | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """A node of the tree (looking into subprocesses) and the SubProcess ids leading to it."""
    if stack:
        level = tree
        for sub_id in stack:
            act = (level.get("activities") or {}).get(sub_id)
            if not act or not isinstance(act.get("pipeline"), dict):
                return None, []
            level = act["pipeline"]
        node = all_nodes(level).get(node_id)
        return (node, list(stack)) if node else (None, [])
    node = all_nodes(tree).get(node_id)
    if node is not None:
        return node, []
    for act_id, act in (tree.get("activities") or {}).items():
        if isinstance(act.get("pipeline"), dict):
            found, path = find_node(act["pipeline"], node_id)
            if found is not None:
                return found, [act_id, *path]
    return None, []


def node_names(tree: dict[str, Any]) -> dict[str, str]:
    """Every node's display name, through all subprocess levels (ids are unique after regeneration)."""
    names: dict[str, str] = {}
    for node_id, node in all_nodes(tree).items():
        names[node_id] = node.get("name") or ""
        if isinstance(node.get("pipeline"), dict):
            names.update(node_names(node["pipeline"]))
    return names
