"""The walker: moves one run's tokens through its compiled tree, in memory.

Pure Python, no Django, deterministic given a clock and a version generator.
The runtime loads a run (state, frontier, contexts) and the node records an
event needs, applies one event or operation with a Walker method, calls
`walk()`, and writes back what the walker reports as created/updated, plus
history entries, then sends the effects after commit.

Frontier (stored on the run row, protected by its lock):
  ready   [[key, mode], ...] tokens to enter ("enter" or "retry"); kept while
          the run or the token's subprocess is paused
  active  {key: {"s": state, "v": version, "sc": schedule_count}} nodes that
          are RUNNING / FAILED / SUSPENDED: the fence every message is checked
          against
  joins   {converge key: [arrived, needed]} open parallel joins
  seen    {key: 1} re-enterable nodes that already have a record
  paused  [subprocess key, ...] paused subprocesses
"""
from __future__ import annotations

import os
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline_engine.errors import InvalidOperation, NodeNotFound

from . import states as s
from . import tree as t
from .components.base import ExecutionContext, Outcome
from .context import ScopeContext, child_context
from .expressions import ExpressionError, references, render
from .records import NodeRecord

ENTER = "enter"
RETRY = "retry"

Loader = Callable[[list[str]], dict[str, NodeRecord]]


@dataclass
class RunData:
    """The parts of a run row the walker reads and changes."""

    run_id: str
    state: str
    frontier: dict[str, Any]
    context: dict[str, Any]  # scope path -> stored ScopeContext dict
    outputs: dict[str, Any] = field(default_factory=dict)
    time_zone: str = "UTC"
    executor: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        for name, default in (("ready", list), ("active", dict), ("joins", dict), ("seen", dict),
                              ("paused", list)):
            self.frontier.setdefault(name, default())


@dataclass
class Effect:
    """Something to do after commit."""

    kind: str  # "component" | "event" | "finished"
    key: str = ""
    version: str = ""
    schedule_count: int = 0
    countdown: float = 0.0
    event: str = ""  # for kind "event": "timeout" | "auto_retry"
    state: str = ""  # for kind "finished"


def new_version() -> str:
    return os.urandom(16).hex()  # 32 hex characters like the original's uniqid, cheaper than uuid4


def _component_class(code: str, version: str | None) -> Any:
    from .components import get_component  # late: the registry imports plugins

    return get_component(code, version)


def _safe_call(fn: Callable[[], Outcome]) -> Outcome:
    """Run component code; any exception becomes a failure with its traceback."""
    try:
        outcome = fn()
    except Exception:  # noqa: BLE001 - a plugin's bug must fail its node, not the engine
        return Outcome.failure(traceback.format_exc(limit=8))
    if outcome is None or outcome is True:
        return Outcome.success()
    if outcome is False:
        return Outcome.failure("the component reported failure")
    return outcome


class Walker:
    def __init__(
        self,
        tree: t.CompiledTree,
        run: RunData,
        loader: Loader,
        *,
        now: Callable[[], datetime],
        rerun_limit: int = 100,
        versions: Callable[[], str] = new_version,
        records: dict[str, NodeRecord] | None = None,
    ) -> None:
        self.tree = tree
        self.run = run
        self.frontier = run.frontier
        self.active: dict[str, dict[str, Any]] = run.frontier["active"]
        self._loader = loader
        self._now = now
        self.rerun_limit = rerun_limit
        self._versions = versions
        self.records: dict[str, NodeRecord] = dict(records or {})
        self.created: dict[str, NodeRecord] = {}
        self.updated: set[str] = set()
        self.histories: list[dict[str, Any]] = []
        self.effects: list[Effect] = []
        self.finished_nodes: list[NodeRecord] = []  # for metrics
        self.changed = False
        self._contexts: dict[str, ScopeContext] = {}
        self._ready: deque[list[str]] = deque(run.frontier["ready"])

    # ------------------------------------------------------------------ records
    def record(self, key: str) -> NodeRecord:
        rec = self.records.get(key)
        if rec is None:
            found = self._loader([key])
            if key not in found:
                raise NodeNotFound(f"node({key.rpartition('/')[2]}) does not exist, may have not been executed")
            rec = found[key]
            self.records[key] = rec
        return rec

    def preload(self, keys: Iterable[str]) -> None:
        missing = [k for k in keys if k not in self.records]
        if missing:
            self.records.update(self._loader(missing))

    def _touch(self, rec: NodeRecord) -> None:
        self.changed = True
        if rec.key not in self.created:
            self.updated.add(rec.key)

    def _existing(self, key: str, node: t.Node) -> NodeRecord | None:
        if key in self.records:
            return self.records[key]
        if node.reenterable and key in self.frontier["seen"]:
            return self.record(key)
        return None

    def _begin(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> NodeRecord | None:
        """The node's record, RUNNING from now: created, re-entered or retried."""
        now = self._now()
        if mode == RETRY:
            rec = self.record(key)
        else:
            rec = self._existing(key, node)
            if rec is None:
                rec = NodeRecord(key=key, scope=scope.path, node_id=node.id, node_type=node.type,
                                 component_code=node.code, name=node.name, version=self._versions())
                self.records[key] = rec
                self.created[key] = rec
                if node.reenterable:
                    self.frontier["seen"][key] = 1
            else:
                # Re-entry through a loop: keep the previous pass as history.
                self.histories.append(rec.history_entry())
                rec.loop += 1
                rec.inner_loop += 1
                rec.retry = 0
                rec.skip = False
                rec.error_ignored = False
                rec.version = self._versions()
                rec.inputs, rec.outputs, rec.ex_data = {}, {}, None
                rec.phase, rec.schedule_count, rec.comp_state = s.PHASE_NONE, 0, {}
                rec.callback_data, rec.callback_status = None, s.CB_NONE
                rec.wake_at = rec.lease_until = rec.deadline = rec.nudged_at = None
        rec.state = s.RUNNING
        rec.started_at = now
        rec.finished_at = None
        self._touch(rec)
        if rec.loop > self.rerun_limit:
            self._fail(scope, node, rec, f"node re-entered more than {self.rerun_limit} times "
                                         f"(SOPS_NODE_RERUN_LIMIT)", auto_retry=False, ignorable=False)
            return None
        return rec

    def _finish(self, rec: NodeRecord, state: str = s.FINISHED) -> None:
        rec.state = state
        rec.finished_at = self._now()
        rec.phase = s.PHASE_NONE
        rec.wake_at = rec.lease_until = rec.deadline = rec.nudged_at = None
        self._touch(rec)
        self.active.pop(rec.key, None)
        self.finished_nodes.append(rec)

    def _activate(self, rec: NodeRecord) -> None:
        entry: dict[str, Any] = {"s": rec.state, "v": rec.version, "sc": rec.schedule_count}
        if rec.state == s.FAILED:
            # Whether an automatic retry is due, kept in the frontier so any later
            # step can tell "stopped" from "waiting to retry" without loading this
            # node's row (see _maybe_signal_failed).
            entry["rw"] = 1 if rec.phase == s.PHASE_RETRY_WAIT else 0
        self.active[rec.key] = entry
        self._touch(rec)

    # ------------------------------------------------------------------ contexts
    def scope_context(self, path: str) -> ScopeContext:
        ctx = self._contexts.get(path)
        if ctx is None:
            stored = self.run.context.setdefault(path, {"values": {}, "plain": []})
            ctx = self._contexts[path] = ScopeContext(stored)
        return ctx

    def _names_context(self, scope: t.Scope, value: Any, rec: NodeRecord) -> dict[str, Any]:
        names = references(value)
        ctx = self.scope_context(scope.path).resolve(names) if names else {}
        ctx.setdefault("_loop", rec.loop)
        ctx.setdefault("_inner_loop", rec.inner_loop)
        return ctx

    def _extract_outputs(self, scope: t.Scope, node: t.Node, outputs: dict[str, Any]) -> None:
        mapping = scope.output_map.get(node.id)
        if not mapping:
            return
        ctx = self.scope_context(scope.path)
        for name, out_key in mapping:
            for candidate in (out_key, t.bare(out_key), f"${{{t.bare(out_key)}}}"):
                if candidate in outputs:
                    ctx.set_plain(name, outputs[candidate])
                    self.changed = True
                    break

    # ------------------------------------------------------------------ walking
    def push(self, key: str, mode: str = ENTER) -> None:
        self._ready.append([key, mode])
        self.changed = True

    def _push_target(self, scope: t.Scope, target: str) -> None:
        self.push(scope.key(target))

    def _held(self, key: str) -> bool:
        if self.run.state != s.RUNNING:
            return True
        for paused in self.frontier["paused"]:
            if key.startswith(paused + "/"):
                return True
        return False

    def walk(self) -> None:
        """Enter ready tokens until none is left or all that remain are held."""
        held: list[list[str]] = []
        while self._ready:
            key, mode = self._ready.popleft()
            if self.run.state in s.RUN_ENDED:
                self._ready.clear()
                held.clear()
                break
            if self._held(key):
                held.append([key, mode])
                continue
            self._enter(key, mode)
        self.frontier["ready"] = held
        self._maybe_signal_failed()

    def settle(self) -> None:
        """End a step that does not walk (an operation): keep the ready tokens for an
        advance step, and still tell listeners when the run can go no further.

        An operation such as forced_fail can leave the run stopped on a failed
        node with nothing to run; no advance step follows then, so the FAILED
        signal must come from this step as it would from a walk.
        """
        self.frontier["ready"] = list(self._ready)
        self._maybe_signal_failed()

    def _enter(self, key: str, mode: str) -> None:
        scope, node_id = self.tree.scope_of_key(key)
        node = scope.nodes[node_id]
        handler = {
            t.START: self._enter_start,
            t.END: self._enter_end,
            t.ACTIVITY: self._enter_activity,
            t.SUBPROCESS: self._enter_subprocess,
            t.PARALLEL: self._enter_parallel,
            t.EXCLUSIVE: self._enter_exclusive,
            t.CONDITIONAL_PARALLEL: self._enter_conditional_parallel,
            t.CONVERGE: self._enter_converge,
        }[node.type]
        handler(scope, node, key, mode)

    def _enter_start(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        self._finish(rec)
        self._push_target(scope, node.targets[0])

    def _enter_end(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        self._finish(rec)
        ctx = self.scope_context(scope.path)
        try:
            values = ctx.resolve(t.bare(k) for k in scope.outputs)
        except ExpressionError:
            values = {t.bare(k): ctx.values.get(t.bare(k)) for k in scope.outputs}
        outputs = {k: values.get(t.bare(k)) for k in scope.outputs}
        if not scope.path:
            self.run.outputs = outputs
            self.run.state = s.FINISHED
            self.run.finished_at = self._now()
            self.frontier["joins"] = {}
            self.effects.append(Effect("finished", state=s.FINISHED))
            return
        # A subprocess ended: its SubProcess node finishes in the parent scope.
        parent, sp_id = self.tree.scope_of_key(scope.path)
        sp_node = parent.nodes[sp_id]
        sp_rec = self.record(scope.path)
        sp_rec.outputs = {**outputs, "_loop": sp_rec.loop, "_inner_loop": sp_rec.inner_loop}
        self._finish(sp_rec)
        self._extract_outputs(parent, sp_node, sp_rec.outputs)
        self._push_target(parent, sp_node.targets[0])

    def _enter_parallel(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        self._finish(rec)
        self._fork(scope, node, node.targets)

    def _fork(self, scope: t.Scope, node: t.Node, targets: list[str]) -> None:
        if node.converge_id:
            self.frontier["joins"][scope.key(node.converge_id)] = [0, len(targets)]
        for target in targets:
            self._push_target(scope, target)

    def _evaluate(self, scope: t.Scope, node: t.Node, rec: NodeRecord) -> list[str]:
        """Flow ids whose condition is true (the default flow's own condition is not evaluated)."""
        from .conditions import evaluate_condition  # late: written alongside the expressions

        true_flows = []
        for fid in node.outgoing:
            if fid == node.default_flow or fid not in node.conditions:
                continue
            expression = node.conditions[fid]
            context = self._names_context(scope, expression, rec)
            if evaluate_condition(expression, context):
                true_flows.append(fid)
        return true_flows

    def _enter_exclusive(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        try:
            true_flows = self._evaluate(scope, node, rec)
        except ExpressionError as exc:
            self._fail(scope, node, rec, f"condition evaluation failed: {exc}")
            return
        if len(true_flows) > 1:
            self._fail(scope, node, rec, f"exclusive gateway {node.id}: multiple conditions meet: "
                                         f"{', '.join(true_flows)}")
            return
        if not true_flows:
            if not node.default_flow:
                self._fail(scope, node, rec, f"exclusive gateway {node.id}: no condition meets and "
                                             f"there is no default flow")
                return
            true_flows = [node.default_flow]
        rec.outputs = {"flow": true_flows[0]}
        self._finish(rec)
        self._push_target(scope, node.target_of(true_flows[0]))

    def _enter_conditional_parallel(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        try:
            true_flows = self._evaluate(scope, node, rec)
        except ExpressionError as exc:
            self._fail(scope, node, rec, f"condition evaluation failed: {exc}")
            return
        if not true_flows:
            if not node.default_flow:
                self._fail(scope, node, rec, f"conditional parallel gateway {node.id}: no condition meets "
                                             f"and there is no default flow")
                return
            true_flows = [node.default_flow]
        rec.outputs = {"flows": true_flows}
        self._finish(rec)
        self._fork(scope, node, [node.target_of(f) for f in true_flows])

    def _enter_converge(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        join = self.frontier["joins"].get(key)
        if join is not None and mode == ENTER:
            join[0] += 1
            self.changed = True
            if join[0] < join[1]:
                return
            del self.frontier["joins"][key]
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        self._finish(rec)
        self._push_target(scope, node.targets[0])

    def _enter_subprocess(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        child = node.child
        assert child is not None
        try:
            stored = child_context(child.constants, self.scope_context(scope.path))
        except ExpressionError as exc:
            self._fail(scope, node, rec, f"subprocess variables could not be resolved: {exc}", ignorable=False)
            return
        self.run.context[child.path] = stored
        self._contexts.pop(child.path, None)
        rec.inputs = {child.constant_keys.get(n, n): v for n, v in stored["values"].items()}
        self._activate(rec)
        self.push(child.key(child.start_id))

    # ------------------------------------------------------------------ activities
    def _render_inputs(self, scope: t.Scope, node: t.Node, rec: NodeRecord) -> dict[str, Any]:
        raw = rec.inputs_override if rec.inputs_override is not None else node.data
        context = self._names_context(scope, raw, rec)
        inputs = {key: render(value, context) for key, value in raw.items()}
        inputs["_loop"] = rec.loop
        inputs["_inner_loop"] = rec.inner_loop
        return inputs

    def _enter_activity(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
        rec = self._begin(scope, node, key, mode)
        if rec is None:
            return
        try:
            rec.inputs = self._render_inputs(scope, node, rec)
        except ExpressionError as exc:
            self._fail(scope, node, rec, f"input rendering failed: {exc}")
            return
        try:
            cls = _component_class(node.code, node.version)
        except KeyError:
            self._fail(scope, node, rec, f"component {node.code} (version {node.version or 'legacy'}) "
                                         f"is not registered")
            return
        now = self._now()
        if node.timeout:
            rec.deadline = now + timedelta(seconds=node.timeout)
            self.effects.append(Effect("event", key=key, version=rec.version, countdown=node.timeout,
                                       event="timeout"))
        if cls.inline:
            ctx = self.execution_context(rec)
            outcome = _safe_call(lambda: cls().execute(ctx))
            self._apply_outcome(scope, node, rec, outcome, ctx.outputs, ctx.state)
            return
        rec.phase = s.PHASE_EXECUTE
        rec.schedule_count = 0
        rec.wake_at = now
        self._activate(rec)
        self.effects.append(Effect("component", key=key, version=rec.version, schedule_count=0))

    def execution_context(self, rec: NodeRecord) -> ExecutionContext:
        return ExecutionContext(
            run_id=self.run.run_id, node_id=rec.node_id, inputs=dict(rec.inputs),
            state=dict(rec.comp_state or {}), time_zone=self.run.time_zone, executor=self.run.executor,
            schedule_count=rec.schedule_count, version=rec.version,
        )

    def _apply_outcome(self, scope: t.Scope, node: t.Node, rec: NodeRecord, outcome: Outcome,
                       outputs: dict[str, Any], comp_state: dict[str, Any]) -> None:
        rec.comp_state = comp_state or {}
        if outcome.kind == "success":
            rec.outputs = {**outputs, "_result": True, "_loop": rec.loop, "_inner_loop": rec.inner_loop}
            rec.ex_data = None
            self._finish(rec)
            self._extract_outputs(scope, node, rec.outputs)
            self._push_target(scope, node.targets[0])
        elif outcome.kind == "failure":
            self._fail(scope, node, rec, outcome.ex_data or "the component reported failure", outputs=outputs)
        elif outcome.kind == "poll":
            rec.phase = s.PHASE_POLL
            rec.schedule_count += 1
            rec.wake_at = self._now() + timedelta(seconds=outcome.interval)
            rec.lease_until = rec.nudged_at = None
            self._activate(rec)
            self.effects.append(Effect("component", key=rec.key, version=rec.version,
                                       schedule_count=rec.schedule_count, countdown=outcome.interval))
        else:  # wait for a callback
            rec.phase = s.PHASE_CALLBACK
            rec.schedule_count += 1
            rec.lease_until = rec.nudged_at = None
            if rec.callback_status == s.CB_APPLIED:
                rec.callback_status, rec.callback_data = s.CB_NONE, None  # ready for the next one
            if rec.callback_status == s.CB_PENDING:
                self._queue_callback(rec)
            else:
                rec.wake_at = None
            self._activate(rec)

    def _queue_callback(self, rec: NodeRecord) -> None:
        rec.callback_status = s.CB_QUEUED
        rec.wake_at = self._now()
        self.effects.append(Effect("component", key=rec.key, version=rec.version,
                                   schedule_count=rec.schedule_count))

    def _fail(self, scope: t.Scope, node: t.Node, rec: NodeRecord, ex_data: str, *,
              outputs: dict[str, Any] | None = None, auto_retry: bool = True, ignorable: bool = True) -> None:
        rec.state = s.FAILED
        rec.ex_data = ex_data
        rec.finished_at = self._now()
        rec.phase = s.PHASE_NONE
        rec.wake_at = rec.lease_until = rec.deadline = rec.nudged_at = None
        if node.type == t.ACTIVITY:
            rec.outputs = {**(outputs or {}), "_result": False, "_loop": rec.loop, "_inner_loop": rec.inner_loop}
            self._extract_outputs(scope, node, rec.outputs)
        if ignorable and node.type == t.ACTIVITY and node.error_ignorable:
            rec.error_ignored = True
            self._finish(rec)
            self._push_target(scope, node.targets[0])
            return
        self.finished_nodes.append(rec)
        if auto_retry and node.type == t.ACTIVITY and rec.retry < node.auto_retry_times:
            rec.phase = s.PHASE_RETRY_WAIT
            rec.wake_at = self._now() + timedelta(seconds=node.auto_retry_interval)
            self.effects.append(Effect("event", key=rec.key, version=rec.version,
                                       countdown=node.auto_retry_interval, event="auto_retry"))
        else:
            self.frontier.pop("failed_notified", None)
        self._activate(rec)

    def _maybe_signal_failed(self) -> None:
        """Tell listeners once when the run can go no further without an operator."""
        if self.run.state != s.RUNNING or self.frontier["ready"] or self.frontier.get("failed_notified"):
            return
        failed = False
        for key, entry in self.active.items():
            if entry["s"] == s.RUNNING and self.tree.node(key).type != t.SUBPROCESS:
                return
            if entry["s"] == s.FAILED:
                waits = entry["rw"] if "rw" in entry else self._waits_for_retry(key)
                if waits:
                    return  # an automatic retry is still due: not stopped yet
                failed = True
        if failed:
            self.frontier["failed_notified"] = True
            self.changed = True
            self.effects.append(Effect("finished", state=s.FAILED))

    def _waits_for_retry(self, key: str) -> bool:
        """Whether a FAILED node waits for an automatic retry (frontiers written before
        the "rw" flag existed: read the node's row, loading it if this step has not)."""
        rec = self.records.get(key)
        if rec is None:
            rec = self._loader([key]).get(key)
            if rec is None:
                return False
            self.records[key] = rec
        return rec.phase == s.PHASE_RETRY_WAIT

    # ------------------------------------------------------------------ events from workers
    def _fenced(self, key: str, version: str, state: str, schedule_count: int | None = None) -> bool:
        entry = self.active.get(key)
        if entry is None or entry["s"] != state or entry["v"] != version:
            return False
        return schedule_count is None or entry["sc"] == schedule_count

    def apply_result(self, key: str, version: str, schedule_count: int, outcome: Outcome,
                     outputs: dict[str, Any], comp_state: dict[str, Any], calls: int) -> bool:
        """Record what a component task reported; False when the message is stale."""
        if self.run.state in s.RUN_ENDED or not self._fenced(key, version, s.RUNNING, schedule_count):
            return False
        scope, node_id = self.tree.scope_of_key(key)
        node = scope.nodes[node_id]
        if self.active[key].get("cb"):
            self.records.pop(key, None)  # a callback changed the row after the worker read it
        rec = self.record(key)
        rec.lease_until = None
        if rec.phase == s.PHASE_CALLBACK and rec.callback_status == s.CB_QUEUED:
            rec.callback_status = s.CB_APPLIED
        rec.schedule_count = schedule_count + calls
        self._touch(rec)
        self._apply_outcome(scope, node, rec, outcome, outputs, comp_state)
        return True

    def apply_timeout(self, key: str, version: str) -> bool:
        if self.run.state in s.RUN_ENDED or not self._fenced(key, version, s.RUNNING):
            return False
        rec = self.record(key)
        if rec.deadline is None or rec.deadline > self._now() + timedelta(milliseconds=200):
            return False
        node = self.tree.node(key)
        self._forced_fail(rec, f"node execution timed out after {node.timeout:g} seconds")
        return True

    def apply_auto_retry(self, key: str, version: str) -> bool:
        if self.run.state in s.RUN_ENDED or not self._fenced(key, version, s.FAILED):
            return False
        rec = self.record(key)
        if rec.phase != s.PHASE_RETRY_WAIT:
            return False
        self.retry(key)
        return True

    # ------------------------------------------------------------------ operations
    def _require_open(self, action: str) -> None:
        if self.run.state in s.RUN_ENDED:
            raise InvalidOperation(f"invalid operation, pipeline({self.run.run_id}) is {self.run.state}, "
                                   f"can not {action}")

    def _require_active(self, key: str, states: tuple[str, ...], action: str) -> dict[str, Any]:
        entry = self.active.get(key)
        node_id = key.rpartition("/")[2]
        if entry is None or entry["s"] not in states:
            current = entry["s"] if entry else self._state_of(key)
            raise InvalidOperation(f"node({node_id}) state is {current}, can not {action}")
        return entry

    def _state_of(self, key: str) -> str:
        if key in self.records:
            return self.records[key].state
        found = self._loader([key])
        return found[key].state if key in found else "not started"

    def pause(self) -> None:
        if self.run.state != s.RUNNING:
            raise InvalidOperation(f"pipeline({self.run.run_id}) state is {self.run.state}, can not pause")
        self.run.state = s.SUSPENDED
        self.changed = True

    def resume(self) -> None:
        if self.run.state != s.SUSPENDED:
            raise InvalidOperation(f"pipeline({self.run.run_id}) state is: {self.run.state}, can not resume")
        self.run.state = s.RUNNING
        self.changed = True

    def revoke(self) -> None:
        self._require_open("revoke")
        self.preload(self.active)
        for key in list(self.active):
            rec = self.records[key]
            if rec.state == s.FAILED:
                rec.phase = s.PHASE_NONE
                rec.wake_at = None
                self._touch(rec)
            else:
                rec.version = self._versions()  # fences off any late result
                self._finish(rec, s.REVOKED)
        # A retried node waits READY in the ready list: it will never run now.
        retried = [key for key, mode in self._ready if mode == RETRY]
        self.preload(retried)
        for key in retried:
            rec = self.records.get(key)
            if rec is not None and rec.state == s.READY:
                rec.version = self._versions()
                self._finish(rec, s.REVOKED)
        self.active.clear()
        self._ready.clear()
        self.frontier["joins"] = {}
        self.frontier["paused"] = []
        self.run.state = s.REVOKED
        self.run.finished_at = self._now()
        self.changed = True
        self.effects.append(Effect("finished", state=s.REVOKED))

    def retry(self, key: str, inputs: dict[str, Any] | None = None) -> None:
        self._require_open("retry")
        self._require_active(key, (s.FAILED,), "retry")
        node = self.tree.node(key)
        if node.type not in (t.ACTIVITY, t.EXCLUSIVE, t.CONDITIONAL_PARALLEL, t.SUBPROCESS):
            raise InvalidOperation(f"node({node.id}) of type {node.type} can not be retried")
        if node.type == t.ACTIVITY and not node.retryable:
            raise InvalidOperation(f"node({node.id}) is not retryable")
        rec = self.record(key)
        self.histories.append(rec.history_entry())
        rec.retry += 1
        rec.version = self._versions()
        if inputs is not None:
            rec.inputs_override = dict(inputs)
        rec.state = s.READY
        rec.phase = s.PHASE_NONE
        rec.wake_at = rec.lease_until = rec.deadline = rec.nudged_at = None
        rec.callback_data, rec.callback_status = None, s.CB_NONE
        self._touch(rec)
        self.active.pop(key, None)
        self.frontier.pop("failed_notified", None)
        self.push(key, RETRY)

    def skip(self, key: str) -> None:
        self._require_open("skip")
        self._require_active(key, (s.FAILED,), "skip")
        scope, node_id = self.tree.scope_of_key(key)
        node = scope.nodes[node_id]
        if node.type != t.ACTIVITY:
            raise InvalidOperation(f"node({node.id}) of type {node.type} can not be skipped")
        if not node.skippable:
            raise InvalidOperation(f"node({node.id}) is not skippable")
        rec = self.record(key)
        self.histories.append(rec.history_entry())
        rec.skip = True
        rec.version = self._versions()
        self._finish(rec)
        self.frontier.pop("failed_notified", None)
        self._push_target(scope, node.targets[0])

    def skip_exclusive_gateway(self, key: str, flow_id: str) -> None:
        self._require_open("skip")
        scope, node_id = self.tree.scope_of_key(key)
        node = scope.nodes[node_id]
        if node.type != t.EXCLUSIVE:
            raise InvalidOperation(f"node({node.id}) is not an exclusive gateway")
        self._require_active(key, (s.FAILED,), "skip")
        if flow_id not in node.outgoing:
            raise InvalidOperation(f"flow({flow_id}) is not an outgoing flow of node({node.id})")
        rec = self.record(key)
        self.histories.append(rec.history_entry())
        rec.skip = True
        rec.version = self._versions()
        rec.outputs = {"flow": flow_id}
        self._finish(rec)
        self.frontier.pop("failed_notified", None)
        self._push_target(scope, node.target_of(flow_id))

    def forced_fail(self, key: str, ex_data: str = "") -> None:
        self._require_open("forced fail")
        node = self.tree.node(key)
        if node.type != t.ACTIVITY:
            raise InvalidOperation(f"node({node.id}) of type {node.type} can not be forced to fail")
        self._require_active(key, (s.RUNNING,), "forced fail")
        self._forced_fail(self.record(key), ex_data or "The node has been forced to fail.")

    def _forced_fail(self, rec: NodeRecord, ex_data: str) -> None:
        rec.version = self._versions()  # the running work sees this and stops; its result is stale
        rec.state = s.FAILED
        rec.ex_data = ex_data
        rec.finished_at = self._now()
        rec.outputs = {**(rec.outputs or {}), "_forced_failed": True, "_result": False}
        rec.phase = s.PHASE_NONE
        rec.wake_at = rec.lease_until = rec.deadline = rec.nudged_at = None
        rec.callback_data, rec.callback_status = None, s.CB_NONE
        self.finished_nodes.append(rec)
        self.frontier.pop("failed_notified", None)
        self._activate(rec)

    def pause_subprocess(self, key: str) -> None:
        self._require_open("pause")
        node = self.tree.node(key)
        if node.type != t.SUBPROCESS:
            raise InvalidOperation(f"node({node.id}) is not a subprocess")
        self._require_active(key, (s.RUNNING,), "pause")
        rec = self.record(key)
        rec.state = s.SUSPENDED
        self._activate(rec)
        if key not in self.frontier["paused"]:
            self.frontier["paused"].append(key)

    def resume_subprocess(self, key: str) -> None:
        self._require_open("resume")
        node = self.tree.node(key)
        if node.type != t.SUBPROCESS:
            raise InvalidOperation(f"node({node.id}) is not a subprocess")
        self._require_active(key, (s.SUSPENDED,), "resume")
        rec = self.record(key)
        rec.state = s.RUNNING
        self._activate(rec)
        self.frontier["paused"] = [p for p in self.frontier["paused"] if p != key]
        self.changed = True

    def callback(self, key: str, data: Any, version: str | None = None) -> bool:
        """Deliver a callback; False when it repeats one already accepted."""
        node_id = key.rpartition("/")[2]
        if self.run.state in s.RUN_ENDED:
            raise InvalidOperation(f"invalid operation, this node is finished or pipeline "
                                   f"({self.run.run_id}) is {self.run.state}")
        node = self.tree.node(key)
        entry = self.active.get(key)
        if node.type != t.ACTIVITY or entry is None or entry["s"] != s.RUNNING:
            state = entry["s"] if entry else self._state_of(key)
            raise InvalidOperation(f"node({node_id}) is not waiting for a callback (state {state})")
        if version and version != entry["v"]:
            raise InvalidOperation(f"node version {version} not exist")
        rec = self.record(key)
        if rec.callback_status != s.CB_NONE:
            if rec.callback_data == data:
                return False  # the same callback again: already taken
            raise InvalidOperation(f"node({node_id}) has already received a callback")
        if rec.phase == s.PHASE_POLL:
            raise InvalidOperation("can't callback a poll schedule.")
        rec.callback_data = data
        self.active[key]["cb"] = 1  # tells apply_result to re-read the row
        if rec.phase == s.PHASE_CALLBACK:
            self._queue_callback(rec)
        else:
            rec.callback_status = s.CB_PENDING  # execute still running: apply once it waits
        self._touch(rec)
        return True

    # ------------------------------------------------------------------ summaries
    def display_state(self) -> str:
        return s.display_state(self.run.state, [e["s"] for e in self.active.values()])


def start_frontier(tree: t.CompiledTree) -> dict[str, Any]:
    return {"ready": [[tree.root.key(tree.root.start_id), ENTER]], "active": {}, "joins": {}, "seen": {},
            "paused": []}


def start_context(tree: t.CompiledTree) -> dict[str, Any]:
    return {"": {"values": dict(tree.root.constants), "plain": []}}
