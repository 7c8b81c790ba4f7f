"""The walker: moves one run's tokens through its compiled tree, in memory.

Pure Python, no Django, deterministic given a clock and a version generator.
The runtime loads a run (state, frontier, contexts) and the node records an
event needs, applies one event or operation (core.operations), calls `walk()`,
and writes back what the walker reports as created/updated, plus history
entries, then sends the effects after commit.

The walker owns the frontier, the node records, the scope contexts and the
fence; what a node does when a token reaches it belongs to its kind
(core.nodes), which the walker looks up by node type.

Frontier (stored on the run row, protected by its lock):
  ready   [[key, mode], ...] tokens to enter ("enter" or "retry"); kept while
          the run or the token's subprocess is paused
  active  {key: {"s": state, "v": version, "sc": schedule_count}} nodes that
          are RUNNING / FAILED / SUSPENDED: the fence every message is checked
          against; a FAILED node's entry also has "rw": whether an automatic
          retry is due (older frontiers lack it: the node's row tells)
  joins   {converge key: [arrived, needed]} open parallel joins
  seen    {key: 1} re-enterable nodes that already have a record
  paused  [subprocess key, ...] paused subprocesses
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline_engine.errors import NodeNotFound

from . import states as s
from . import tree as t
from .context import ScopeContext
from .expressions import references
from .nodes import ENTER_BY_TYPE, FAIL_BY_TYPE
from .records import ENTER, Effect, NodeRecord, RunData

if TYPE_CHECKING:
    from .components.node_log import LogEntry

Loader = Callable[[list[str]], dict[str, NodeRecord]]


# How often a walk with a budget asks whether it is spent: a clock read per token
# would cost more than entering a no-op node.
BUDGET_CHECK_EVERY = 8


def new_version() -> str:
    return os.urandom(16).hex()  # 32 hex characters like the original's uniqid, cheaper than uuid4


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
        self.load = loader
        self.now = now
        self.rerun_limit = rerun_limit
        self.new_version = versions
        self.records: dict[str, NodeRecord] = dict(records or {})
        self.created: dict[str, NodeRecord] = {}
        self.updated: set[str] = set()
        self.histories: list[dict[str, Any]] = []
        self.effects: list[Effect] = []
        self.finished_nodes: list[NodeRecord] = []  # for metrics
        # Components' log lines to store with their node attempt: (key, node_id, version, lines, truncated).
        self.logs: list[LogEntry] = []
        self.changed = False
        self._contexts: dict[str, ScopeContext] = {}
        self._ready: deque[list[str]] = deque(run.frontier["ready"])
        self.exhausted = False  # a walk stopped by its budget left tokens ready

    def keep_log(self, key: str, node_id: str, version: str, logger: Any) -> None:
        """Hand what a component call logged (a NodeLogger) to the step that persists this walk."""
        lines, truncated = logger.take()
        if lines or truncated:
            self.logs.append((key, node_id, version, lines, truncated))

    # ------------------------------------------------------------------ records
    def record(self, key: str) -> NodeRecord:
        rec = self.records.get(key)
        if rec is None:
            found = self.load([key])
            if key not in found:
                raise NodeNotFound(f"node({key.rpartition('/')[2]}) does not exist, may have not been executed")
            rec = found[key]
            self.records[key] = rec
        return rec

    def preload(self, keys: Iterable[str]) -> None:
        missing = [k for k in keys if k not in self.records]
        if missing:
            self.records.update(self.load(missing))

    def touch(self, rec: NodeRecord) -> None:
        self.changed = True
        if rec.key not in self.created:
            self.updated.add(rec.key)

    def new_pass(self, rec: NodeRecord) -> None:
        """Keep the node's pass so far as history; a new version fences off its messages."""
        self.histories.append(rec.history_entry())
        rec.version = self.new_version()

    def _existing(self, key: str, node: t.Node) -> NodeRecord | None:
        if key in self.records:
            return self.records[key]
        if node.reenterable and key in self.frontier["seen"]:
            return self.record(key)
        return None

    def begin(self, scope: t.Scope, node: t.Node, key: str, mode: str) -> NodeRecord | None:
        """The node's record, RUNNING from now: created, re-entered or retried.

        None when the node may not run again (it re-entered past the rerun
        limit and has been failed).
        """
        now = self.now()
        if mode == ENTER:
            rec = self._existing(key, node)
            if rec is None:
                rec = NodeRecord(key=key, scope=scope.path, node_id=node.id, node_type=node.type,
                                 component_code=node.code, name=node.name, version=self.new_version())
                self.records[key] = rec
                self.created[key] = rec
                if node.reenterable:
                    self.frontier["seen"][key] = 1
            else:
                # Re-entry through a loop: keep the previous pass as history.
                self.histories.append(rec.history_entry())
                rec.reenter(self.new_version())
        else:
            rec = self.record(key)
        rec.start(now)
        self.touch(rec)
        if rec.loop > self.rerun_limit:
            self.fail(scope, node, rec, f"node re-entered more than {self.rerun_limit} times "
                                        f"(SOPS_NODE_RERUN_LIMIT)")
            return None
        return rec

    def finish(self, rec: NodeRecord, state: str = s.FINISHED) -> None:
        rec.end(state, self.now())
        self.touch(rec)
        self.active.pop(rec.key, None)
        self.finished_nodes.append(rec)

    def activate(self, rec: NodeRecord) -> None:
        """Put the node in the fence (RUNNING, FAILED or SUSPENDED)."""
        entry: dict[str, Any] = {"s": rec.state, "v": rec.version, "sc": rec.schedule_count}
        if rec.state == s.FAILED:
            # Whether an automatic retry is due, kept in the frontier so any later
            # step can tell "stopped" from "waiting to retry" without loading this
            # node's row (see _maybe_signal_failed).
            entry["rw"] = rec.phase == s.PHASE_RETRY_WAIT
        self.active[rec.key] = entry
        self.touch(rec)

    def fail(self, scope: t.Scope, node: t.Node, rec: NodeRecord, ex_data: str) -> None:
        """The node failed for good (a gateway's conditions, a subprocess's variables, the
        rerun limit): it waits for an operator. A kind that keeps its own books on failure
        (an activity's `_result` output) does so; neither error_ignorable nor an automatic
        retry applies, those answer only what a component reports."""
        on_fail = FAIL_BY_TYPE.get(node.type)
        if on_fail is not None:
            on_fail(self, scope, node, rec, ex_data)
            return
        rec.fail(ex_data, self.now())
        self.hold_failed(rec)

    def hold_failed(self, rec: NodeRecord) -> None:
        """A failed node stays in the fence (see _maybe_signal_failed for the stop signal:
        a node can only fail while nothing has been signalled, as something was running,
        and the operations that run a node again reset the signal)."""
        self.finished_nodes.append(rec)
        self.activate(rec)

    # ------------------------------------------------------------------ contexts
    def scope_context(self, path: str) -> ScopeContext:
        ctx = self._contexts.get(path)
        if ctx is None:
            stored = self.run.context.setdefault(path, {})  # ScopeContext fills in its parts
            ctx = self._contexts[path] = ScopeContext(stored)
        return ctx

    def set_scope_context(self, path: str, stored: dict[str, Any]) -> None:
        """Replace a scope's stored context (a subprocess being entered)."""
        self.run.context[path] = stored
        self._contexts.pop(path, None)

    def names_context(self, scope: t.Scope, value: Any, rec: NodeRecord) -> dict[str, Any]:
        """The resolved values of the names `value` references, plus the node's loop counters."""
        ctx = self.scope_context(scope.path).resolve(references(value))
        ctx.setdefault("_loop", rec.loop)
        ctx.setdefault("_inner_loop", rec.inner_loop)
        return ctx

    def extract_outputs(self, scope: t.Scope, node: t.Node, outputs: dict[str, Any]) -> None:
        """Write the node's outputs into the constants fed by it (component_outputs)."""
        mapping = scope.output_map.get(node.id)
        if not mapping:
            return
        ctx = self.scope_context(scope.path)
        for name, out_key in mapping:
            for candidate in (out_key, t.bare(out_key), f"${{{t.bare(out_key)}}}"):
                if candidate in outputs:
                    ctx.set_plain(name, outputs[candidate])  # the caller finishes or fails the node: changed
                    break

    # ------------------------------------------------------------------ walking
    def push(self, key: str, mode: str = ENTER) -> None:
        # No `changed` here: a token is pushed only by a step that also ends, fails or
        # starts a node (which marks it), and the ready list is written with the run.
        self._ready.append([key, mode])

    def push_target(self, scope: t.Scope, target: str) -> None:
        self.push(scope.key(target))

    @property
    def ready(self) -> deque[list[str]]:
        """Tokens waiting to enter their node during this step."""
        return self._ready

    def _held(self, key: str) -> bool:
        if self.run.state != s.RUNNING:
            return True
        for paused in self.frontier["paused"]:
            if key.startswith(paused + "/"):
                return True
        return False

    def walk(self, out_of_budget: Callable[[], bool] | None = None) -> None:
        """Enter ready tokens until none is left or all that remain are held.

        With `out_of_budget`, the walk also stops when it answers True (asked
        every BUDGET_CHECK_EVERY tokens): the tokens not entered yet stay ready
        and `exhausted` says an advance step must carry on from there.
        """
        held: list[list[str]] = []
        enter = ENTER_BY_TYPE
        entered = 0
        while self._ready:
            if out_of_budget is not None:
                entered += 1
                if entered % BUDGET_CHECK_EVERY == 0 and out_of_budget():
                    self.frontier["ready"] = held + list(self._ready)
                    self._ready.clear()
                    self.exhausted = True
                    return
            key, mode = self._ready.popleft()
            if self.run.state in s.RUN_ENDED:
                self._ready.clear()
                held.clear()
                break
            if self._held(key):
                held.append([key, mode])
                continue
            scope, node_id = self.tree.scope_of_key(key)
            node = scope.nodes[node_id]
            enter[node.type](self, scope, node, key, mode)
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
        return self.record(key).phase == s.PHASE_RETRY_WAIT

    # ------------------------------------------------------------------ the fence
    def fenced(self, key: str, version: str, state: str, schedule_count: int | None = None) -> bool:
        """Whether a message about the node still applies: the node is active in
        `state` with `version` (and `schedule_count`, when given)."""
        entry = self.active.get(key)
        if entry is None or entry["s"] != state or entry["v"] != version:
            return False
        return schedule_count is None or entry["sc"] == schedule_count

    def resolve_key(self, node_id: str) -> str:
        """A node id's key (its path through subprocesses); the active one when ids repeat."""
        keys = self.tree.find_keys(node_id)
        if not keys:
            raise NodeNotFound(f"node({node_id}) does not exist in pipeline({self.run.run_id})")
        for key in keys:
            if key in self.active:
                return key
        return keys[0]

    # ------------------------------------------------------------------ summaries
    def display_state(self) -> str:
        return s.display_state(self.run.state, [e["s"] for e in self.active.values()])


def start_frontier(tree: t.CompiledTree) -> dict[str, Any]:
    """A new run's frontier: one token at the start event (RunData adds the empty parts)."""
    return {"ready": [[tree.root.key(tree.root.start_id), ENTER]]}


def start_context(tree: t.CompiledTree) -> dict[str, Any]:
    """A new run's root context: the tree's constants (ScopeContext adds the empty parts)."""
    return {"": {"values": dict(tree.root.constants)}}
