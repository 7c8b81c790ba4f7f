"""SubProcess: a nested pipeline, entered with its own variables, finished when its end event is."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import tree as t
from ..context import child_context
from ..expressions import ExpressionError
from .base import Kind, check_one_way

if TYPE_CHECKING:
    from ..walker import Walker


def enter(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    """Resolve the child's constants against the parent scope now, then start the child."""
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    child = node.child
    assert child is not None
    try:
        stored = child_context(child.constants, w.scope_context(scope.path))
    except ExpressionError as exc:
        w.fail(scope, node, rec, f"subprocess variables could not be resolved: {exc}")
        return
    w.set_scope_context(child.path, stored)
    rec.inputs = {child.constant_keys.get(n, n): v for n, v in stored["values"].items()}
    w.activate(rec)
    w.push(child.key(child.start_id))


def child_ended(w: Walker, child: t.Scope, outputs: dict[str, Any]) -> None:
    """The child pipeline reached its end event: its SubProcess node finishes in the parent scope."""
    parent, sp_id = w.tree.scope_of_key(child.path)
    sp_node = parent.nodes[sp_id]
    sp_rec = w.record(child.path)
    sp_rec.outputs = {**outputs, "_loop": sp_rec.loop, "_inner_loop": sp_rec.inner_loop}
    w.finish(sp_rec)
    w.extract_outputs(parent, sp_node, sp_rec.outputs)
    w.push_target(parent, sp_node.targets[0])


KIND = Kind(t.SUBPROCESS, enter, check_one_way, retryable=True)
