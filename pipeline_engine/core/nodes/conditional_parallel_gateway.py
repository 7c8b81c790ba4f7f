"""ConditionalParallelGateway: sends a token down every outgoing flow whose condition holds
(or the default flow); its conditions work as an ExclusiveGateway's, its fork as a ParallelGateway's."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import tree as t
from ..expressions import ExpressionError
from . import exclusive_gateway, parallel_gateway
from .base import Kind

if TYPE_CHECKING:
    from ..walker import Walker


def enter(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    try:
        flows = exclusive_gateway.true_flows(w, scope, node, rec)
    except ExpressionError as exc:
        w.fail(scope, node, rec, f"condition evaluation failed: {exc}")
        return
    if not flows:
        if not node.default_flow:
            w.fail(scope, node, rec, f"conditional parallel gateway {node.id}: no condition meets "
                                     f"and there is no default flow")
            return
        flows = [node.default_flow]
    rec.outputs = {"flows": flows}
    w.finish(rec)
    parallel_gateway.fork(w, scope, node, [node.target_of(f) for f in flows])


KIND = Kind(t.CONDITIONAL_PARALLEL, enter, exclusive_gateway.check_shape, exclusive_gateway.check_references,
            retryable=True)
