"""What changes a run between walks: operators' operations and workers' reports.

Each function takes the walker of one step (the runtime holds the run's lock)
and a node key. Operations check that they are allowed and raise
InvalidOperation (with the message the API answers) when not; worker reports
are checked against the walker's fence and return False when stale. The parts
that belong to one kind of node are that kind's (core.nodes).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from pipeline_engine.errors import InvalidOperation

from . import states as s
from . import tree as t
from .components import Outcome
from .nodes import RETRYABLE_TYPES, activity, exclusive_gateway
from .records import RETRY, Effect
from .walker import Walker

# A timeout message sent with the timeout as countdown may arrive a little early.
TIMEOUT_TOLERANCE = timedelta(milliseconds=200)


# --------------------------------------------------------------------------- guards
def require_open(w: Walker, action: str) -> None:
    if w.run.state in s.RUN_ENDED:
        raise InvalidOperation(f"invalid operation, pipeline({w.run.run_id}) is {w.run.state}, can not {action}")


def require_active(w: Walker, key: str, states: tuple[str, ...], action: str) -> dict[str, Any]:
    entry = w.active.get(key)
    node_id = key.rpartition("/")[2]
    if entry is None or entry["s"] not in states:
        current = entry["s"] if entry else state_of(w, key)
        raise InvalidOperation(f"node({node_id}) state is {current}, can not {action}")
    return entry


def state_of(w: Walker, key: str) -> str:
    if key in w.records:
        return w.records[key].state
    found = w.load([key])
    return found[key].state if key in found else "not started"


# --------------------------------------------------------------------------- the run
def pause(w: Walker) -> None:
    if w.run.state != s.RUNNING:
        raise InvalidOperation(f"pipeline({w.run.run_id}) state is {w.run.state}, can not pause")
    w.run.state = s.SUSPENDED
    w.changed = True


def resume(w: Walker) -> None:
    if w.run.state != s.SUSPENDED:
        raise InvalidOperation(f"pipeline({w.run.run_id}) state is: {w.run.state}, can not resume")
    w.run.state = s.RUNNING
    w.changed = True


def revoke(w: Walker) -> None:
    require_open(w, "revoke")
    w.preload(w.active)
    for key in list(w.active):
        rec = w.records[key]
        if rec.state == s.FAILED:
            rec.phase = s.PHASE_NONE
            rec.wake_at = None
            w.touch(rec)
        else:
            rec.version = w.new_version()  # fences off any late result
            w.finish(rec, s.REVOKED)
    # A retried node waits READY in the ready list: it will never run now.
    retried = [key for key, mode in w.ready if mode == RETRY]
    w.preload(retried)
    for key in retried:
        waiting = w.records.get(key)
        if waiting is not None and waiting.state == s.READY:
            waiting.version = w.new_version()
            w.finish(waiting, s.REVOKED)
    w.active.clear()
    w.ready.clear()
    w.frontier["joins"] = {}
    w.frontier["paused"] = []
    w.run.state = s.REVOKED
    w.run.finished_at = w.now()
    w.changed = True
    w.effects.append(Effect("finished", state=s.REVOKED))


# --------------------------------------------------------------------------- failed nodes
def retry(w: Walker, key: str, inputs: dict[str, Any] | None = None) -> None:
    """Run a failed node again (with new inputs, for an activity)."""
    require_open(w, "retry")
    require_active(w, key, (s.FAILED,), "retry")
    node = w.tree.node(key)
    if node.type not in RETRYABLE_TYPES:
        raise InvalidOperation(f"node({node.id}) of type {node.type} can not be retried")
    if node.type == t.ACTIVITY and not node.retryable:
        raise InvalidOperation(f"node({node.id}) is not retryable")
    rec = w.record(key)
    w.new_pass(rec)
    rec.retry += 1
    if inputs is not None:
        rec.inputs_override = dict(inputs)
    rec.state = s.READY
    rec.phase = s.PHASE_NONE
    rec.clear_timers()
    rec.clear_callback()
    w.touch(rec)
    w.active.pop(key, None)
    w.frontier.pop("failed_notified", None)
    w.push(key, RETRY)


def skip(w: Walker, key: str) -> None:
    """Treat a failed activity as done, without its outputs, and go on."""
    require_open(w, "skip")
    require_active(w, key, (s.FAILED,), "skip")
    scope, node_id = w.tree.scope_of_key(key)
    node = scope.nodes[node_id]
    if node.type != t.ACTIVITY:
        raise InvalidOperation(f"node({node.id}) of type {node.type} can not be skipped")
    if not node.skippable:
        raise InvalidOperation(f"node({node.id}) is not skippable")
    rec = w.record(key)
    w.new_pass(rec)
    rec.skip = True
    w.finish(rec)
    w.frontier.pop("failed_notified", None)
    w.push_target(scope, node.targets[0])


def skip_exclusive_gateway(w: Walker, key: str, flow_id: str) -> None:
    """Let a failed exclusive gateway take `flow_id`."""
    require_open(w, "skip")
    node = w.tree.node(key)
    if node.type != t.EXCLUSIVE:
        raise InvalidOperation(f"node({node.id}) is not an exclusive gateway")
    require_active(w, key, (s.FAILED,), "skip")
    exclusive_gateway.skip_to(w, key, flow_id)
    w.frontier.pop("failed_notified", None)


# --------------------------------------------------------------------------- running nodes
def forced_fail(w: Walker, key: str, ex_data: str = "") -> None:
    require_open(w, "forced fail")
    node = w.tree.node(key)
    if node.type != t.ACTIVITY:
        raise InvalidOperation(f"node({node.id}) of type {node.type} can not be forced to fail")
    require_active(w, key, (s.RUNNING,), "forced fail")
    activity.force_fail(w, w.record(key), ex_data or "The node has been forced to fail.")


def callback(w: Walker, key: str, data: Any, version: str | None = None, *, inline: bool = False) -> bool:
    """Deliver a callback to a waiting activity; False when it repeats one already accepted.

    `inline`: an inline component's schedule takes the data in this step (activity.take_callback)."""
    node_id = key.rpartition("/")[2]
    if w.run.state in s.RUN_ENDED:
        raise InvalidOperation(f"invalid operation, this node is finished or pipeline "
                               f"({w.run.run_id}) is {w.run.state}")
    node = w.tree.node(key)
    entry = w.active.get(key)
    if node.type != t.ACTIVITY or entry is None or entry["s"] != s.RUNNING:
        state = entry["s"] if entry else state_of(w, key)
        raise InvalidOperation(f"node({node_id}) is not waiting for a callback (state {state})")
    if version and version != entry["v"]:
        raise InvalidOperation(f"node version {version} not exist")
    rec = w.record(key)
    if rec.callback_status != s.CB_NONE:
        if rec.callback_data == data:
            return False  # the same callback again: already taken
        raise InvalidOperation(f"node({node_id}) has already received a callback")
    if rec.phase == s.PHASE_POLL:
        raise InvalidOperation("can't callback a poll schedule.")
    rec.callback_data = data
    w.touch(rec)
    if rec.phase != s.PHASE_CALLBACK:
        rec.callback_status = s.CB_PENDING  # execute still running: apply once it waits
    elif activity.take_callback(w, w.tree.scope_of_key(key)[0], node, rec, inline=inline):
        return True
    entry["cb"] = 1  # a worker holds or will read this row: tells apply_result to re-read it
    return True


# --------------------------------------------------------------------------- subprocesses
def pause_subprocess(w: Walker, key: str) -> None:
    """Hold the tokens inside a running subprocess (see Walker._held)."""
    require_open(w, "pause")
    node = w.tree.node(key)
    if node.type != t.SUBPROCESS:
        raise InvalidOperation(f"node({node.id}) is not a subprocess")
    require_active(w, key, (s.RUNNING,), "pause")
    rec = w.record(key)
    rec.state = s.SUSPENDED
    w.activate(rec)
    if key not in w.frontier["paused"]:
        w.frontier["paused"].append(key)


def resume_subprocess(w: Walker, key: str) -> None:
    require_open(w, "resume")
    node = w.tree.node(key)
    if node.type != t.SUBPROCESS:
        raise InvalidOperation(f"node({node.id}) is not a subprocess")
    require_active(w, key, (s.SUSPENDED,), "resume")
    rec = w.record(key)
    rec.state = s.RUNNING
    w.activate(rec)
    w.frontier["paused"] = [p for p in w.frontier["paused"] if p != key]
    w.changed = True


# --------------------------------------------------------------------------- worker reports
def apply_result(w: Walker, key: str, version: str, schedule_count: int, outcome: Outcome,
                 outputs: dict[str, Any], comp_state: dict[str, Any], calls: int) -> bool:
    """Record what a component task reported; False when the message is stale."""
    if w.run.state in s.RUN_ENDED or not w.fenced(key, version, s.RUNNING, schedule_count):
        return False
    scope, node_id = w.tree.scope_of_key(key)
    node = scope.nodes[node_id]
    if w.active[key].get("cb"):
        w.records.pop(key, None)  # a callback changed the row after the worker read it
    rec = w.record(key)
    rec.lease_until = None
    if rec.phase == s.PHASE_CALLBACK and rec.callback_status == s.CB_QUEUED:
        rec.callback_status = s.CB_APPLIED
    rec.schedule_count = schedule_count + calls
    w.touch(rec)
    activity.apply_outcome(w, scope, node, rec, outcome, outputs, comp_state)
    return True


def apply_timeout(w: Walker, key: str, version: str) -> bool:
    """Fail a RUNNING node whose deadline has passed; False when stale or not due yet."""
    if w.run.state in s.RUN_ENDED or not w.fenced(key, version, s.RUNNING):
        return False
    rec = w.record(key)
    if rec.deadline is None or rec.deadline > w.now() + TIMEOUT_TOLERANCE:
        return False
    node = w.tree.node(key)
    activity.force_fail(w, rec, f"node execution timed out after {node.timeout:g} seconds")
    return True


def apply_auto_retry(w: Walker, key: str, version: str) -> bool:
    """Retry a failed node that waits for its automatic retry; False when stale."""
    if w.run.state in s.RUN_ENDED or not w.fenced(key, version, s.FAILED):
        return False
    rec = w.record(key)
    if rec.phase != s.PHASE_RETRY_WAIT:
        return False
    retry(w, key)
    return True
