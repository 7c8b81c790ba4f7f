"""ExclusiveGateway: takes the one outgoing flow whose condition holds (or the default flow).

Everything an ExclusiveGateway does is here: evaluating its conditions when a
token enters, failing when none or several hold, the operator's skip to a
chosen flow, and its validation rules. The condition language itself is
core.conditions; ConditionalParallelGateway evaluates and checks its
conditions with the functions of this module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline_engine.errors import InvalidOperation

from .. import tree as t
from ..conditions import evaluate_condition
from ..expressions import ExpressionError
from ..records import NodeRecord
from .base import Add, Kind, Names, check_divergent, label

if TYPE_CHECKING:
    from ..walker import Walker


def enter(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    try:
        flows = true_flows(w, scope, node, rec)
    except ExpressionError as exc:
        w.fail(scope, node, rec, f"condition evaluation failed: {exc}")
        return
    if len(flows) > 1:
        w.fail(scope, node, rec, f"exclusive gateway {node.id}: multiple conditions meet: {', '.join(flows)}")
        return
    if not flows:
        if not node.default_flow:
            w.fail(scope, node, rec, f"exclusive gateway {node.id}: no condition meets and there is no default flow")
            return
        flows = [node.default_flow]
    take_flow(w, scope, node, rec, flows[0])


def true_flows(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord) -> list[str]:
    """Flow ids whose condition is true (the default flow's own condition is not evaluated)."""
    flows = []
    for fid in node.outgoing:
        if fid == node.default_flow or fid not in node.conditions:
            continue
        expression = node.conditions[fid]
        if evaluate_condition(expression, w.names_context(scope, expression, rec)):
            flows.append(fid)
    return flows


def take_flow(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord, flow_id: str) -> None:
    rec.outputs = {"flow": flow_id}
    w.finish(rec)
    w.push_target(scope, node.target_of(flow_id))


def skip_to(w: Walker, key: str, flow_id: str) -> None:
    """The operator's skip of a failed gateway: it takes `flow_id` as if its condition held."""
    scope, node_id = w.tree.scope_of_key(key)
    node = scope.nodes[node_id]
    if flow_id not in node.outgoing:
        raise InvalidOperation(f"flow({flow_id}) is not an outgoing flow of node({node.id})")
    rec = w.record(key)
    w.new_pass(rec)
    rec.skip = True
    take_flow(w, scope, node, rec, flow_id)


def check_shape(scope: t.Scope, node: t.Node, targeted: bool, out_degree: int, add: Add) -> None:
    """A divergent gateway whose conditions (and default flow) name its own outgoing flows."""
    check_divergent(scope, node, targeted, out_degree, add)
    for fid in node.conditions:
        if fid not in node.outgoing:
            add(f"{label(node)}: condition on flow {fid} which is not one of its outgoing flows")
    if node.default_flow and node.default_flow not in node.outgoing:
        add(f"{label(node)}: default flow {node.default_flow} is not one of its outgoing flows")


def check_references(node: t.Node, names: Names, add: Add, check_components: bool) -> None:
    for fid, expression in node.conditions.items():
        missing = names.unknown(expression)
        if missing:
            shown = ", ".join(f"${{{n}}}" for n in missing)
            add(f"{label(node)}: condition of flow {fid} references undefined variable {shown}")


KIND = Kind(t.EXCLUSIVE, enter, check_shape, check_references, retryable=True)
