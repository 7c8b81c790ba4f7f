"""The public simulator (pipeline_engine/testing.py): a run in memory, as the runtime would take it."""
from __future__ import annotations

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components import Component, ExecutionContext, Outcome, register, unregister
from pipeline_engine.errors import InvalidOperation, TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import TreeBuilder, callback_tree, failing, linear


@pytest.fixture
def seen_contexts():
    seen: list[ExecutionContext] = []

    @register
    class Recorder(Component):
        code = "testing_recorder"

        def execute(self, ctx: ExecutionContext) -> Outcome:
            seen.append(ctx)
            ctx.outputs["polls"] = ctx.schedule_count
            poll = ctx.inputs.get("poll")
            return Outcome.success() if poll is None else Outcome.poll(poll)

        def schedule(self, ctx: ExecutionContext, callback_data=None) -> Outcome:
            seen.append(ctx)
            return Outcome.success()

    yield seen
    unregister("testing_recorder")


def test_start_walks_until_work_waits_and_drain_runs_it():
    sim = Simulator(linear(3, "bench_poll")).start()
    assert sim.run.state == s.RUNNING and sim.state("n0") == s.RUNNING and "n1" not in sim.rows
    assert [e.kind for e in sim.effects] == ["component"]
    sim.drain()
    assert sim.run.state == s.FINISHED and sim.signals == [s.FINISHED]
    assert not sim.effects


def test_components_see_the_runs_id_time_zone_and_executor(seen_contexts):
    b = TreeBuilder()
    b.act("a", "testing_recorder", {"poll": 0})
    b.chain(b.start_id, "a", b.end_id)
    sim = Simulator(b.build(), run_id="r-7", time_zone="Asia/Shanghai", executor="alice").start()
    sim.drain()
    first = seen_contexts[0]
    assert (first.run_id, first.node_id, first.time_zone, first.executor) == ("r-7", "a", "Asia/Shanghai", "alice")
    # The poll asking for no delay is served in the same call, as in a worker.
    assert len(seen_contexts) == 2 and sim.rows["a"].schedule_count == 1
    assert sim.run.state == s.FINISHED


def test_a_stale_report_is_refused_and_versions_are_predictable():
    sim = Simulator(linear(1, "bench_poll")).start()
    effect = sim.effects.popleft()
    assert effect.version == sim.rows["n0"].version and effect.version.startswith("v")
    assert sim.report(effect, Outcome.success()) is True
    assert sim.report(effect, Outcome.success()) is False  # the same message again
    assert sim.run.state == s.FINISHED


def test_operations_raise_as_through_the_api():
    sim = Simulator(failing()).start()
    assert sim.display == s.FAILED and sim.signals == [s.FAILED]
    with pytest.raises(InvalidOperation):
        sim.step(lambda w: operations.resume(w), walk=False)
    sim.step(lambda w: operations.skip(w, "f"))
    assert sim.run.state == s.FINISHED


def test_the_clock_moves_by_each_delay(seen_contexts):
    b = TreeBuilder()
    b.act("a", "testing_recorder", {"poll": 5})
    b.chain(b.start_id, "a", b.end_id)
    sim = Simulator(b.build()).start()
    before = sim.clock
    sim.drain()
    assert (sim.clock - before).total_seconds() == 5
    assert sim.run.state == s.FINISHED
    sim = Simulator(callback_tree()).start()
    sim.drain()
    assert sim.clock == before and sim.rows["p"].phase == s.PHASE_CALLBACK  # no delay asked


def test_an_invalid_tree_is_refused_like_run_pipeline():
    b = TreeBuilder()
    b.act("a", "no_such_component")
    b.chain(b.start_id, "a", b.end_id)
    with pytest.raises(TreeInvalid, match="not registered"):
        Simulator(b.build())
