"""ServiceActivity: renders its inputs, runs its component (inline, or as work for a worker),
and applies what the component answered; its failure rules (error_ignorable, automatic retry,
forced failure and timeouts) and the callback bookkeeping live here too."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pipeline_engine.errors import NodeNotFound

from .. import states as s
from .. import tree as t
from ..components import Component, ExecutionContext, Outcome, call, get_component, safe_call
from ..context import ScopeContext, child_context
from ..expressions import ExpressionError, references, render
from ..records import Effect, NodeRecord
from .base import Add, Kind, Names, check_one_way, label

if TYPE_CHECKING:
    from ..walker import Walker


def enter(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    try:
        rec.inputs = render_inputs(w, scope, node, rec)
    except ExpressionError as exc:
        fail(w, scope, node, rec, f"input rendering failed: {exc}")
        return
    try:
        cls = get_component(node.code, node.version)
    except KeyError:
        fail(w, scope, node, rec, f"component {node.code} (version {node.version or 'legacy'}) is not registered")
        return
    now = w.now()
    if node.timeout:
        rec.deadline = now + timedelta(seconds=node.timeout)
        w.effects.append(Effect("event", key=key, version=rec.version, countdown=node.timeout, event="timeout"))
    if cls.inline:
        ctx = execution_context(rec, run_id=w.run.run_id, time_zone=w.run.time_zone, executor=w.run.executor)
        outcome = safe_call(lambda: cls().execute(ctx))
        w.keep_log(key, rec.node_id, ctx.version, ctx.log)
        apply_outcome(w, scope, node, rec, outcome, ctx.outputs, ctx.state)
        return
    rec.phase = s.PHASE_EXECUTE
    rec.schedule_count = 0
    rec.wake_at = now
    w.activate(rec)
    w.effects.append(Effect("component", key=key, version=rec.version, schedule_count=0))


def render_inputs(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord) -> dict[str, Any]:
    raw = rec.inputs_override if rec.inputs_override is not None else node.data
    if raw:  # a node without inputs references no name: nothing to resolve
        context = w.names_context(scope, raw, rec)
        inputs = {key: render(value, context) for key, value in raw.items()}
    else:
        inputs = {}
    inputs["_loop"] = rec.loop
    inputs["_inner_loop"] = rec.inner_loop
    return inputs


def execution_context(rec: NodeRecord, *, run_id: str, time_zone: str, executor: str) -> ExecutionContext:
    """What the node's component sees on its next call."""
    return ExecutionContext(
        run_id=run_id, node_id=rec.node_id, inputs=dict(rec.inputs or {}), state=dict(rec.comp_state or {}),
        time_zone=time_zone, executor=executor, schedule_count=rec.schedule_count, version=rec.version,
    )


def preview_inputs(compiled: t.CompiledTree, node_id: str, subprocess_stack: list[str] | None = None) -> dict[str, Any]:
    """The inputs a node would be given if it ran now, from the tree's constants alone.

    `subprocess_stack` names the SubProcess nodes leading to it. A value that
    cannot be rendered yet is shown as written.
    """
    scope = compiled.root
    ctx = ScopeContext({"values": dict(scope.constants), "plain": []})
    for sp_id in subprocess_stack or []:
        sp = scope.nodes.get(sp_id)
        if sp is None or sp.child is None:
            raise NodeNotFound(f"subprocess({sp_id}) does not exist")
        try:
            stored = child_context(sp.child.constants, ctx)
        except ExpressionError:
            stored = {"values": dict(sp.child.constants), "plain": []}
        scope = sp.child
        ctx = ScopeContext(stored)
    node = scope.nodes.get(node_id)
    if node is None:
        raise NodeNotFound(f"node({node_id}) does not exist")
    inputs: dict[str, Any] = {}
    for key, value in node.data.items():
        try:
            context = ctx.resolve(references(value))
            context.setdefault("_loop", 1)
            context.setdefault("_inner_loop", 1)
            inputs[key] = render(value, context)
        except ExpressionError:
            inputs[key] = value
    return inputs


def apply_outcome(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord, outcome: Outcome,
                  outputs: dict[str, Any], comp_state: dict[str, Any]) -> None:
    """Success moves on, failure fails, a poll or a callback wait keeps the node RUNNING."""
    rec.comp_state = comp_state or {}
    if outcome.kind == "success":
        rec.outputs = {**outputs, "_result": True, "_loop": rec.loop, "_inner_loop": rec.inner_loop}
        rec.ex_data = None
        w.finish(rec)
        w.extract_outputs(scope, node, rec.outputs)
        w.push_target(scope, node.targets[0])
    elif outcome.kind == "failure":
        fail(w, scope, node, rec, outcome.ex_data or "the component reported failure", outputs)
    elif outcome.kind == "poll":
        rec.phase = s.PHASE_POLL
        rec.schedule_count += 1
        rec.wake_at = w.now() + timedelta(seconds=outcome.interval)
        rec.lease_until = rec.nudged_at = None
        w.activate(rec)
        w.effects.append(Effect("component", key=rec.key, version=rec.version,
                                schedule_count=rec.schedule_count, countdown=outcome.interval))
    else:  # wait for a callback
        rec.phase = s.PHASE_CALLBACK
        rec.schedule_count += 1
        rec.lease_until = rec.nudged_at = None
        if rec.callback_status == s.CB_APPLIED:
            rec.clear_callback()  # ready for the next one
        if rec.callback_status == s.CB_PENDING:
            queue_callback(w, rec)
        else:
            rec.wake_at = None
        w.activate(rec)


def take_callback(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord, *, inline: bool) -> bool:
    """A callback reached a node that waits for one (its data is on `rec`).

    An inline component's schedule takes it here, in the step that delivers it, under the
    run's lock (`inline` False leaves every component's call to a worker): the same call and
    bookkeeping as a worker's, without a message, a claim and a result step. Any other
    component's schedule runs in a worker. True when it was taken here."""
    cls = _inline_component(node) if inline else None
    if cls is None:
        queue_callback(w, rec)
        return False
    rec.callback_status = s.CB_APPLIED
    ctx = execution_context(rec, run_id=w.run.run_id, time_zone=w.run.time_zone, executor=w.run.executor)
    outcome, polls = call(cls(), ctx, s.PHASE_CALLBACK, rec.callback_data)
    w.keep_log(rec.key, rec.node_id, ctx.version, ctx.log)
    rec.schedule_count += polls
    apply_outcome(w, scope, node, rec, outcome, ctx.outputs, ctx.state)
    return True


def _inline_component(node: t.Node) -> type[Component] | None:
    try:
        cls = get_component(node.code, node.version)
    except KeyError:  # unregistered since the run started: a worker that has it takes the call
        return None
    return cls if cls.inline else None


def queue_callback(w: Walker, rec: NodeRecord) -> None:
    """Hand the callback's data to the node's next schedule call, in a worker."""
    rec.callback_status = s.CB_QUEUED
    rec.wake_at = w.now()
    w.effects.append(Effect("component", key=rec.key, version=rec.version, schedule_count=rec.schedule_count))


def fail(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord, ex_data: str,
         outputs: dict[str, Any] | None = None, auto_retry: bool = True, ignorable: bool = True) -> None:
    """The outputs written so far still feed their constants; then the error is ignored
    (error_ignorable), retried by itself (auto_retry), or waits for an operator."""
    rec.fail(ex_data, w.now())
    rec.outputs = {**(outputs or {}), "_result": False, "_loop": rec.loop, "_inner_loop": rec.inner_loop}
    w.extract_outputs(scope, node, rec.outputs)
    if ignorable and node.error_ignorable:
        rec.error_ignored = True
        w.finish(rec)
        w.push_target(scope, node.targets[0])
        return
    if auto_retry and rec.retry < node.auto_retry_times:
        rec.phase = s.PHASE_RETRY_WAIT
        rec.wake_at = w.now() + timedelta(seconds=node.auto_retry_interval)
        w.effects.append(Effect("event", key=rec.key, version=rec.version,
                                countdown=node.auto_retry_interval, event="auto_retry"))
    w.hold_failed(rec)


def fail_for_good(w: Walker, scope: t.Scope, node: t.Node, rec: NodeRecord, ex_data: str) -> None:
    """Failed by the walker (the rerun limit): neither ignored nor retried by itself."""
    fail(w, scope, node, rec, ex_data, auto_retry=False, ignorable=False)


def force_fail(w: Walker, rec: NodeRecord, ex_data: str) -> None:
    """Fail a RUNNING node from outside (an operator, a timeout); its running work sees the
    new version and stops, and its late result is stale."""
    rec.version = w.new_version()
    rec.fail(ex_data, w.now())
    rec.outputs = {**(rec.outputs or {}), "_forced_failed": True, "_result": False}
    rec.clear_callback()
    w.hold_failed(rec)


def check_references(node: t.Node, names: Names, add: Add, check_components: bool) -> None:
    if not node.code:
        add(f"{label(node)}: has no component code")
    elif check_components:
        try:
            get_component(node.code, node.version)
        except KeyError:
            add(f"{label(node)}: component {node.code} (version {node.version or 'legacy'}) is not registered")
    for key, value in node.data.items():
        missing = names.unknown_in_input(value)
        if missing:
            shown = ", ".join(f"${{{n}}}" for n in missing)
            add(f"{label(node)}: input {key} references undefined variable {shown}")


KIND = Kind(t.ACTIVITY, enter, check_one_way, check_references, fail=fail_for_good, retryable=True)
