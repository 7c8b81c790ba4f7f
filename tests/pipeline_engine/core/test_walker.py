"""The walker (core/walker.py): walking in one step, re-entry through loops, the rerun limit,
and the one FAILED stop signal, whatever stopped the run."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components import Outcome
from pipeline_engine.errors import NodeNotFound
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    linear,
    loop_tree,
    parallel,
)


def test_linear_chain_finishes_in_one_step():
    sim = Simulator(linear(50)).start()
    assert sim.run.state == s.FINISHED
    assert sim.signals == [s.FINISHED]
    assert len(sim.rows) == 52
    assert all(r.state == s.FINISHED for r in sim.rows.values())


def test_loop_through_exclusive_gateway_keeps_history():
    sim = Simulator(loop_tree("${_loop} < 3")).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["a"].loop == 3
    assert [h["loop"] for h in sim.histories if h["key"] == "a"] == [1, 2]


def test_loop_rerun_limit_fails_the_node():
    sim = Simulator(loop_tree("True"), rerun_limit=5).start()
    assert sim.display == s.FAILED
    failed = [r for r in sim.rows.values() if r.state == s.FAILED]
    assert failed and "more than 5 times" in failed[0].ex_data


def test_forced_fail_operation_signals_the_failed_stop():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0})
    b.chain(b.start_id, "slow", b.end_id)
    sim = Simulator(b.build()).start()
    sim.effects.clear()
    sim.step(lambda w: operations.forced_fail(w, "slow", "stop it"), walk=False)  # as pipeline_engine.api does
    assert sim.signals == [s.FAILED]
    # Later operations that leave it stopped do not repeat it; a new failure after a retry does.
    sim.step(lambda w: operations.pause(w), walk=False)
    sim.step(lambda w: operations.resume(w), walk=False)
    assert sim.signals == [s.FAILED]
    sim.step(lambda w: operations.retry(w, "slow"), walk=False)
    sim.step()  # the advance step the retry owes
    effect = sim.effects.popleft()
    sim.step(lambda w: operations.forced_fail(w, "slow"), walk=False)
    assert sim.signals == [s.FAILED, s.FAILED]
    assert sim.report(effect, Outcome.success()) is False


def test_forced_fail_waits_for_running_branches_before_signalling():
    sim = Simulator(parallel(2, "bench_poll")).start()
    first, second = sim.effects.popleft(), sim.effects.popleft()
    sim.step(lambda w: operations.forced_fail(w, first.key), walk=False)
    assert sim.signals == []  # the other branch still runs
    assert sim.report(second, Outcome.success()) is True
    assert sim.signals == [s.FAILED]


def test_timeout_signals_the_failed_stop():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0}, timeout=5)
    b.chain(b.start_id, "slow", b.end_id)
    sim = Simulator(b.build()).start()
    sim.clock += timedelta(seconds=5)
    assert sim.step(lambda w: operations.apply_timeout(w, "slow", sim.timers[0].version)) is True
    assert sim.signals == [s.FAILED]


def test_auto_retry_pending_in_one_branch_is_not_a_stop(tmp_path):
    """A branch finishing while another waits for its automatic retry must not signal
    FAILED (the step that finishes it has not loaded the waiting node's row); the
    signal comes once, when the retries are used up."""
    b = TreeBuilder()
    pg, cg = b.gw("pg", "ParallelGateway"), b.gw("cg", "ConvergeGateway")
    b.act("f", "test_flaky", {"counter": str(tmp_path / "c"), "fail_times": 99},
          auto_retry={"enable": True, "times": 1, "interval": 5})
    b.act("slow", "test_sleep", {"seconds": 0})
    b.chain(b.start_id, pg)
    b.flow(pg, "f")
    b.flow(pg, "slow")
    b.chain("f", cg)
    b.chain("slow", cg)
    b.chain(cg, b.end_id)
    sim = Simulator(b.build()).start()
    by_key = {e.key: e for e in sim.effects}
    sim.effects.clear()
    assert sim.run_component(by_key["f"]) is True  # fails, retry due in 5 s
    assert sim.rows["f"].phase == s.PHASE_RETRY_WAIT
    assert sim.report(by_key["slow"], Outcome.success()) is True
    assert sim.signals == []
    sim.drain()  # the retry runs and fails for good
    assert sim.rows["f"].state == s.FAILED and sim.rows["f"].retry == 1
    assert sim.signals == [s.FAILED]


def test_a_node_id_resolves_to_its_active_key_when_ids_repeat():
    child = TreeBuilder()
    child.act("a", "bench_poll")  # the same id as the parent's "a"
    child.chain(child.start_id, "a", child.end_id)
    b = TreeBuilder()
    b.act("a", "noop")
    b.sub("sp", child.build())
    b.chain(b.start_id, "a", "sp", b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.state("a") == s.FINISHED and sim.state("sp/a") == s.RUNNING
    assert sim.step(lambda w: w.resolve_key("a"), walk=False) == "sp/a"
    assert sim.step(lambda w: w.resolve_key("sp"), walk=False) == "sp"
    with pytest.raises(NodeNotFound, match=r"node\(ghost\) does not exist in pipeline\(run\)"):
        sim.step(lambda w: w.resolve_key("ghost"), walk=False)


def test_the_fence_matches_state_version_and_schedule_count():
    sim = Simulator(linear(1, "bench_poll")).start()
    version = sim.rows["n0"].version
    fenced = lambda *args: sim.step(lambda w: w.fenced(*args), walk=False)  # noqa: E731
    assert fenced("n0", version, s.RUNNING, 0) and fenced("n0", version, s.RUNNING)
    assert not fenced("n0", version, s.RUNNING, 1)
    assert not fenced("n0", "other", s.RUNNING, 0)
    assert not fenced("n0", version, s.FAILED)
    assert not fenced("start", sim.rows["start"].version, s.FINISHED)  # finished nodes leave the fence
