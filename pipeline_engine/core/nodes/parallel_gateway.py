"""ParallelGateway: sends a token down every outgoing flow; its converge gateway joins them."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import tree as t
from . import converge_gateway
from .base import Kind, check_divergent

if TYPE_CHECKING:
    from ..walker import Walker


def enter(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    w.finish(rec)
    fork(w, scope, node, node.targets)


def fork(w: Walker, scope: t.Scope, node: t.Node, targets: list[str]) -> None:
    """Open the join at the gateway's converge for `targets`, then send a token to each."""
    if node.converge_id:
        converge_gateway.open_join(w, scope, node.converge_id, len(targets))
    for target in targets:
        w.push_target(scope, target)


KIND = Kind(t.PARALLEL, enter, check_divergent)
