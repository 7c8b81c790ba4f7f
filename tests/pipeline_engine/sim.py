"""An in-memory runtime for the pure walker: what store/runner do, minus Django.

Records live in a dict (copied on load, as from a database); component effects
run synchronously when `drain()` is called; time is a fake clock.
"""
from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components import Outcome, call, get_component
from pipeline_engine.core.nodes.activity import execution_context
from pipeline_engine.core.records import Effect, NodeRecord, RunData
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.core.walker import Walker, start_context, start_frontier


class Sim:
    def __init__(self, tree: dict[str, Any], *, rerun_limit: int = 100) -> None:
        self.tree = validate_tree(copy.deepcopy(tree))
        self.run = RunData("run", s.RUNNING, start_frontier(self.tree), start_context(self.tree))
        self.rows: dict[str, NodeRecord] = {}
        self.histories: list[dict[str, Any]] = []
        self.effects: deque[Effect] = deque()
        self.timers: list[Effect] = []  # timeout events, fired only on request
        self.signals: list[str] = []
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

    def step(self, apply: Callable[[Walker], Any] | None = None, *, walk: bool = True) -> Any:
        w = Walker(self.tree, self.run, self._load, now=self.now, rerun_limit=self.rerun_limit,
                   versions=self._version)
        result = apply(w) if apply else None
        if walk:
            w.walk()
        else:
            w.settle()
        for key, rec in w.created.items():
            assert key not in self.rows, f"{key} created twice"
            self.rows[key] = copy.deepcopy(rec)
        for key in w.updated:
            self.rows[key] = copy.deepcopy(w.records[key])
        self.histories.extend(copy.deepcopy(w.histories))
        for effect in w.effects:
            if effect.kind == "finished":
                self.signals.append(effect.state)
            elif effect.event == "timeout":
                self.timers.append(effect)
            else:
                self.effects.append(effect)
        self.display = w.display_state()
        return result

    def start(self) -> Sim:
        self.step()
        return self

    def run_component(self, effect: Effect) -> bool:
        """What runner.run_component does, without claims; returns whether it applied."""
        rec = self.rows[effect.key]
        if rec.state != s.RUNNING or rec.version != effect.version or rec.schedule_count != effect.schedule_count:
            return False
        node = self.tree.node(effect.key)
        comp = get_component(node.code, node.version)()
        ctx = execution_context(rec, run_id=self.run.run_id, time_zone=self.run.time_zone,
                                executor=self.run.executor)
        outcome, calls = call(comp, ctx, rec.phase, rec.callback_data)
        return self.report(effect, outcome, ctx.outputs, ctx.state, calls)

    def report(self, effect: Effect, outcome: Outcome, outputs: dict[str, Any] | None = None,
               state: dict[str, Any] | None = None, calls: int = 0) -> bool:
        return self.step(lambda w: operations.apply_result(w, effect.key, effect.version, effect.schedule_count, outcome,
                                                  outputs or {}, state or {}, calls))

    def drain(self, limit: int = 10_000) -> None:
        """Run queued component work and due timers until nothing is left to do now."""
        for _ in range(limit):
            if not self.effects:
                return
            effect = self.effects.popleft()
            if effect.countdown:
                self.clock += timedelta(seconds=effect.countdown)
            if effect.kind == "component":
                self.run_component(effect)
            elif effect.kind == "event" and effect.event == "auto_retry":
                self.step(lambda w, e=effect: operations.apply_auto_retry(w, e.key, e.version))

    def state(self, key: str) -> str:
        return self.rows[key].state
