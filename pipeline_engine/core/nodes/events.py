"""EmptyStartEvent and EmptyEndEvent: where a pipeline (or a subprocess's pipeline) starts and ends."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import states as s
from .. import tree as t
from ..expressions import ExpressionError
from ..records import Effect
from . import sub_process
from .base import Add, Kind, label

if TYPE_CHECKING:
    from ..walker import Walker


def enter_start(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    w.finish(rec)
    w.push_target(scope, node.targets[0])


def enter_end(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    """The scope's outputs are collected; the run finishes, or the subprocess does."""
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    w.finish(rec)
    ctx = w.scope_context(scope.path)
    try:
        values = ctx.resolve(t.bare(k) for k in scope.outputs)
    except ExpressionError:
        values = {t.bare(k): ctx.values.get(t.bare(k)) for k in scope.outputs}
    outputs = {k: values.get(t.bare(k)) for k in scope.outputs}
    if scope.path:
        sub_process.child_ended(w, scope, outputs)
        return
    w.run.outputs = outputs
    w.run.state = s.FINISHED
    w.run.finished_at = w.now()
    w.frontier["joins"] = {}
    w.effects.append(Effect("finished", state=s.FINISHED))


def check_start(scope: t.Scope, node: t.Node, targeted: bool, out_degree: int, add: Add) -> None:
    if targeted:
        add(f"{label(node)}: a start event cannot be the target of a flow")
    if out_degree != 1:
        add(f"{label(node)}: a start event needs exactly one outgoing flow, has {out_degree}")
    elif node.targets[0] == scope.end_id:
        add(f"{label(node)}: the start event cannot link straight to the end event")


def check_end(scope: t.Scope, node: t.Node, targeted: bool, out_degree: int, add: Add) -> None:
    if out_degree:
        add(f"{label(node)}: an end event cannot have outgoing flows")
    if not targeted:
        add(f"{label(node)}: the end event is not the target of any flow")


START = Kind(t.START, enter_start, check_start)
END = Kind(t.END, enter_end, check_end)
