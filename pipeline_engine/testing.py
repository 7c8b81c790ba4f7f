"""A public simulator of the engine for tests: one run, in memory, with no Django, database or broker.

It runs the real walker, node kinds, operations and component calls; only the
runtime around them is simulated. Records live in a dict (copied on load, as
from a database); component work runs when `drain()` is called; time is a fake
clock that jumps by each delay; versions are "v1", "v2", ... so a test can
name them.

    from pipeline_engine.core import operations
    from pipeline_engine.testing import Simulator

    sim = Simulator(tree).start()      # validates the tree, walks until work waits
    sim.drain()                        # runs queued component work (polls, callbacks)
    assert sim.run.state == "FINISHED"
    sim.state("node_id")               # a node's state ("sub/node" inside a subprocess)
    sim.step(lambda w: operations.retry(w, "node_id"))   # an operation, then a walk

`signals` lists the run_finished states a real run would have sent; `timers`
holds the timeout events, fired only when a test applies them
(`operations.apply_timeout`).
"""
from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components import Outcome, call, get_component
from pipeline_engine.core.nodes.activity import execution_context
from pipeline_engine.core.records import Effect, NodeRecord, RunData
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.core.walker import Walker, start_context, start_frontier

__all__ = ["Simulator"]


def _auto_retry(w: Walker, *, key: str, version: str) -> bool:
    return operations.apply_auto_retry(w, key, version)


class Simulator:
    """One run of `tree` (a web tree, validated like run_pipeline does), simulated in memory."""

    def __init__(self, tree: dict[str, Any], *, rerun_limit: int = 100, run_id: str = "run",
                 time_zone: str = "UTC", executor: str = "") -> None:
        self.tree = validate_tree(copy.deepcopy(tree))
        self.run = RunData(run_id, s.RUNNING, start_frontier(self.tree), start_context(self.tree),
                           time_zone=time_zone, executor=executor)
        self.rows: dict[str, NodeRecord] = {}
        self.histories: list[dict[str, Any]] = []
        self.effects: deque[Effect] = deque()
        self.timers: list[Effect] = []  # timeout events, fired only on request
        self.signals: list[str] = []
        # {(key, version): [[time, level, message], ...]}: what components logged, per node attempt
        self.logs: dict[tuple[str, str], list[list[str]]] = {}
        self.display = s.RUNNING
        self.rerun_limit = rerun_limit
        self.clock = datetime(2024, 1, 1, tzinfo=UTC)
        self._seq = 0

    def now(self) -> datetime:
        return self.clock

    def _version(self) -> str:
        self._seq += 1
        return f"v{self._seq}"

    def _load(self, keys: list[str]) -> dict[str, NodeRecord]:
        return {k: copy.deepcopy(self.rows[k]) for k in keys if k in self.rows}

    def step(self, apply: Callable[[Walker], Any] | None = None, *, walk: bool = True,
             out_of_budget: Callable[[], bool] | None = None) -> Any:
        """One step as the runtime takes it: `apply` (an operation or a report), then a walk
        (`walk=False`: as an operator's operation, which leaves tokens for a later step;
        `out_of_budget`: as a start walk, which stops when it answers True).
        Returns what `apply` returned."""
        w = Walker(self.tree, self.run, self._load, now=self.now, rerun_limit=self.rerun_limit,
                   versions=self._version)
        result = apply(w) if apply else None
        if walk:
            w.walk(out_of_budget)
        else:
            w.settle()
        for key, rec in w.created.items():
            if key in self.rows:
                raise AssertionError(f"{key} created twice")
            self.rows[key] = copy.deepcopy(rec)
        for key in w.updated:
            self.rows[key] = copy.deepcopy(w.records[key])
        self.histories.extend(copy.deepcopy(w.histories))
        for key, _node_id, version, lines, _truncated in w.logs:
            self.logs.setdefault((key, version), []).extend(lines)
        for effect in w.effects:
            if effect.kind == "finished":
                self.signals.append(effect.state)
            elif effect.event == "timeout":
                self.timers.append(effect)
            else:
                self.effects.append(effect)
        self.display = w.display_state()
        return result

    def start(self) -> Simulator:
        self.step()
        return self

    def run_component(self, effect: Effect) -> bool:
        """What the worker's runner does with a component message, minus the claim's lease;
        returns whether the result applied (False: the message was stale)."""
        rec = self.rows[effect.key]
        if rec.state != s.RUNNING or rec.version != effect.version or rec.schedule_count != effect.schedule_count:
            return False
        node = self.tree.node(effect.key)
        component = get_component(node.code, node.version)()
        ctx = execution_context(rec, run_id=self.run.run_id, time_zone=self.run.time_zone,
                                executor=self.run.executor)
        outcome, calls = call(component, ctx, rec.phase, rec.callback_data)
        lines, _truncated = ctx.log.take()
        if lines:
            self.logs.setdefault((effect.key, effect.version), []).extend(lines)
        return self.report(effect, outcome, ctx.outputs, ctx.state, calls)

    def report(self, effect: Effect, outcome: Outcome, outputs: dict[str, Any] | None = None,
               state: dict[str, Any] | None = None, calls: int = 0) -> bool:
        """Report `outcome` for the work `effect` named, as a worker would."""
        result: bool = self.step(lambda w: operations.apply_result(
            w, effect.key, effect.version, effect.schedule_count, outcome, outputs or {}, state or {}, calls))
        return result

    def drain(self, limit: int = 10_000) -> None:
        """Run queued component work and automatic retries until nothing is left to do now;
        the clock moves on by each delay."""
        for _ in range(limit):
            if not self.effects:
                return
            effect = self.effects.popleft()
            if effect.countdown:
                self.clock += timedelta(seconds=effect.countdown)
            if effect.kind == "component":
                self.run_component(effect)
            elif effect.kind == "event" and effect.event == "auto_retry":
                self.step(partial(_auto_retry, key=effect.key, version=effect.version))

    def state(self, key: str) -> str:
        """The state of the node with this key (its id, or "subprocess/id")."""
        return self.rows[key].state
