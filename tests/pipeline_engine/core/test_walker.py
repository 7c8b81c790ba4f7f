"""The walker (core/walker.py): walking in one step, re-entry through loops, the rerun limit,
and the one FAILED stop signal, whatever stopped the run."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components import Outcome
from pipeline_engine.core.records import Effect
from pipeline_engine.core.walker import new_version
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
    sim = _flaky_beside_slow(tmp_path)
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
    sim.drain()  # nothing active any more: the root's node comes first
    assert sim.run.state == s.FINISHED
    assert sim.step(lambda w: w.resolve_key("a"), walk=False) == "a"
    assert sim.step(lambda w: w.resolve_key("sp"), walk=False) == "sp"


def test_the_fence_matches_state_version_and_schedule_count():
    sim = Simulator(linear(1, "bench_poll")).start()
    version = sim.rows["n0"].version
    fenced = lambda *args: sim.step(lambda w: w.fenced(*args), walk=False)  # noqa: E731
    assert fenced("n0", version, s.RUNNING, 0) and fenced("n0", version, s.RUNNING)
    assert not fenced("n0", version, s.RUNNING, 1)
    assert not fenced("n0", "other", s.RUNNING, 0)
    assert not fenced("n0", version, s.FAILED)
    assert not fenced("start", sim.rows["start"].version, s.FINISHED)  # finished nodes leave the fence


# --- stale results: every new pass of a node fences off the messages of the one before -----------


def _poll_node() -> dict:
    """start -> p (bench_poll: polls once, then succeeds) -> after -> end."""
    b = TreeBuilder()
    b.act("p", "bench_poll")
    b.act("after", "noop")
    b.chain(b.start_id, "p", "after", b.end_id)
    return b.build()


def _failed_by_its_component() -> tuple[Simulator, Effect]:
    """p failed by what its component reported (no operator changed its version), and that message."""
    sim = Simulator(_poll_node()).start()
    first = sim.effects.popleft()
    assert sim.report(first, Outcome.failure("boom")) is True
    assert sim.state("p") == s.FAILED
    return sim, first


def test_a_result_of_the_pass_before_a_retry_is_stale():
    sim, first = _failed_by_its_component()
    sim.step(lambda w: operations.retry(w, "p"), walk=False)
    sim.step()  # the advance step: p runs again
    second = sim.effects.popleft()
    assert (second.key, second.schedule_count) == (first.key, first.schedule_count)
    assert second.version != first.version
    assert sim.rows["p"].version == second.version
    # The first pass's message arrives again (a redelivery): same node, same count, old pass.
    assert sim.report(first, Outcome.success()) is False
    assert sim.state("p") == s.RUNNING and "after" not in sim.rows
    assert sim.report(second, Outcome.poll(0)) is True
    assert sim.report(second, Outcome.success()) is False  # its schedule count has moved on
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert [(h["key"], h["version"]) for h in sim.histories] == [("p", first.version)]


def test_a_result_of_a_skipped_pass_is_stale():
    sim, first = _failed_by_its_component()
    sim.step(lambda w: operations.skip(w, "p"))
    assert sim.run.state == s.FINISHED
    assert sim.rows["p"].skip is True and sim.rows["p"].version != first.version
    assert [(h["key"], h["version"]) for h in sim.histories] == [("p", first.version)]
    assert sim.report(first, Outcome.success()) is False
    assert sim.signals == [s.FAILED, s.FINISHED]


def test_a_result_after_revoke_is_stale_and_the_work_sees_a_new_version():
    sim = Simulator(_poll_node()).start()
    first = sim.effects.popleft()
    sim.step(lambda w: operations.revoke(w), walk=False)
    assert sim.state("p") == s.REVOKED
    assert sim.rows["p"].version != first.version  # the running work reads this and stops
    assert sim.run_component(first) is False
    assert sim.report(first, Outcome.success()) is False
    assert sim.state("p") == s.REVOKED and "after" not in sim.rows
    assert sim.signals == [s.REVOKED]


def _failed_waiting_for_an_automatic_retry(tmp_path) -> Simulator:
    """One node that always fails, with 3 automatic retries 5 s apart: its first pass has failed."""
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "c"), "fail_times": 99},
          auto_retry={"enable": True, "times": 3, "interval": 5})
    b.chain(b.start_id, "f", b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.run_component(sim.effects.popleft()) is True
    return sim


def test_revoke_keeps_a_failed_node_failed_and_cancels_its_automatic_retry(tmp_path):
    sim = _failed_waiting_for_an_automatic_retry(tmp_path)
    (retry_event,) = sim.effects
    assert sim.rows["f"].phase == s.PHASE_RETRY_WAIT and sim.rows["f"].wake_at is not None
    sim.step(lambda w: operations.revoke(w), walk=False)
    assert sim.state("f") == s.FAILED
    assert sim.rows["f"].phase == s.PHASE_NONE and sim.rows["f"].wake_at is None
    assert sim.step(lambda w: operations.apply_auto_retry(w, "f", retry_event.version)) is False
    assert sim.rows["f"].retry == 0


def test_an_automatic_retry_applies_once_and_only_to_its_own_pass(tmp_path):
    sim = _failed_waiting_for_an_automatic_retry(tmp_path)
    retry_event = sim.effects.popleft()
    assert sim.step(lambda w: operations.apply_auto_retry(w, "f", "not-its-version")) is False
    assert sim.rows["f"].retry == 0 and sim.state("f") == s.FAILED
    assert sim.step(lambda w: operations.apply_auto_retry(w, "f", retry_event.version)) is True
    assert sim.rows["f"].retry == 1 and sim.state("f") == s.RUNNING
    # The same event delivered twice retries once.
    assert sim.step(lambda w: operations.apply_auto_retry(w, "f", retry_event.version)) is False
    assert sim.rows["f"].retry == 1


def test_an_operator_retry_makes_the_pending_automatic_retry_stale(tmp_path):
    sim = _failed_waiting_for_an_automatic_retry(tmp_path)
    retry_event = sim.effects.popleft()
    sim.step(lambda w: operations.retry(w, "f"))
    assert sim.rows["f"].retry == 1
    assert sim.step(lambda w: operations.apply_auto_retry(w, "f", retry_event.version)) is False
    assert sim.rows["f"].retry == 1


# --- the rerun limit, at its bound ----------------------------------------------------------------


def test_the_rerun_limit_allows_exactly_that_many_passes():
    sim = Simulator(loop_tree("${_loop} < 5"), rerun_limit=5).start()
    assert sim.run.state == s.FINISHED and sim.rows["a"].loop == 5
    sim = Simulator(loop_tree("${_loop} < 6"), rerun_limit=5).start()
    assert sim.display == s.FAILED and sim.signals == [s.FAILED]
    assert sim.rows["a"].state == s.FAILED and sim.rows["a"].loop == 6
    assert sim.rows["a"].ex_data == "node re-entered more than 5 times (SOPS_NODE_RERUN_LIMIT)"
    # The activity keeps its books as on any failure: its _result is False.
    assert sim.rows["a"].outputs == {"_result": False, "_loop": 6, "_inner_loop": 6}


def test_the_rerun_limit_is_neither_ignored_nor_retried_automatically():
    b = TreeBuilder()
    b.act("a", "noop", error_ignorable=True, auto_retry={"enable": True, "times": 5, "interval": 1})
    b.gw("g", "ExclusiveGateway")
    b.chain(b.start_id, "a", "g")
    b.flow("g", "a", condition="True")
    b.flow("g", b.end_id, condition="False")
    sim = Simulator(b.build(), rerun_limit=2).start()
    assert sim.state("a") == s.FAILED and sim.rows["a"].loop == 3
    assert sim.rows["a"].error_ignored is False
    assert not sim.effects  # no automatic retry is due
    assert sim.signals == [s.FAILED]


# --- held tokens and outputs -------------------------------------------------------------------


def _poll_then_noop() -> dict:
    child = TreeBuilder()
    child.act("c1", "bench_poll")
    child.act("c2", "noop")
    child.chain(child.start_id, "c1", "c2", child.end_id)
    return child.build()


def test_pausing_a_subprocess_holds_its_own_tokens_only():
    # "sp" and "sp2": a paused key must not hold the keys that merely start with the same text.
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.sub("sp", _poll_then_noop())
    b.sub("sp2", _poll_then_noop())
    b.chain(b.start_id, "pg", "sp", "cg", b.end_id)
    b.chain("pg", "sp2", "cg")
    sim = Simulator(b.build()).start()
    sim.step(lambda w: operations.pause_subprocess(w, "sp"), walk=False)
    sim.drain()
    assert sim.state("sp/c1") == s.FINISHED and "sp/c2" not in sim.rows
    assert sim.state("sp2/c2") == s.FINISHED and sim.state("sp2") == s.FINISHED
    assert sim.run.frontier["ready"] == [["sp/c2", "enter"]]
    sim.step(lambda w: operations.resume_subprocess(w, "sp"))
    assert sim.run.state == s.FINISHED


@pytest.mark.parametrize("source_key", ["${echoed}", "echoed"])
def test_a_subprocess_output_feeds_the_parent_constant_named_either_way(source_key):
    child = TreeBuilder()
    child.const("${echoed}", "", source_type="component_outputs", source_info={"assign": ["value"]})
    child.act("assign", "var_assign", {"value": "hi"})
    child.chain(child.start_id, "assign", child.end_id)
    child.outputs = ["${echoed}"]
    b = TreeBuilder()
    b.const("${result}", "none", source_type="component_outputs", source_info={"sp": [source_key]})
    b.outputs = ["${result}"]
    b.sub("sp", child.build())
    b.chain(b.start_id, "sp", b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.run.outputs == {"${result}": "hi"}


def test_an_output_the_node_did_not_write_leaves_its_constant_alone():
    b = TreeBuilder()
    b.const("${result}", "before", source_type="component_outputs", source_info={"a": ["missing"]})
    b.outputs = ["${result}"]
    b.act("a", "var_assign", {"value": "hi"})
    b.chain(b.start_id, "a", b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.run.outputs == {"${result}": "before"}


def test_versions_are_32_hex_characters_and_never_repeat():
    versions = {new_version() for _ in range(100)}
    assert len(versions) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in versions)


def test_the_record_of_a_node_that_never_ran_is_not_found_by_its_own_id():
    b = TreeBuilder()
    b.sub("sp", _poll_then_noop())
    b.chain(b.start_id, "sp", b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.step(lambda w: w.record("sp/c1"), walk=False).state == s.RUNNING
    with pytest.raises(NodeNotFound) as exc:
        sim.step(lambda w: w.record("sp/c2"), walk=False)
    assert exc.value.message == "node(c2) does not exist, may have not been executed"
    outer = TreeBuilder()
    outer.sub("top", b.build())
    outer.chain(outer.start_id, "top", outer.end_id)
    sim = Simulator(outer.build()).start()
    with pytest.raises(NodeNotFound, match=r"^node\(c2\) does not exist"):
        sim.step(lambda w: w.record("top/sp/c2"), walk=False)


def test_every_record_carries_its_component_and_a_version_of_its_own():
    sim = Simulator(linear(2, "bench_poll")).start()
    sim.drain()
    assert sim.rows["n0"].component_code == "bench_poll" and sim.rows["start"].component_code == ""
    assert (sim.rows["n0"].name, sim.rows["n0"].node_type, sim.rows["n0"].scope) == ("n0", "ServiceActivity", "")
    versions = [rec.version for rec in sim.rows.values()]
    assert all(versions) and len(set(versions)) == len(versions)


def test_each_pass_through_a_loop_has_its_own_version():
    sim = Simulator(loop_tree("${_loop} < 3")).start()
    passes = [h["version"] for h in sim.histories if h["key"] == "a"] + [sim.rows["a"].version]
    assert len(passes) == 3 and all(passes) and len(set(passes)) == 3


def test_a_loop_through_work_that_waits_reenters_the_stored_record():
    # Each pass of p ends in another step, so the loop's re-entry reads p's row back.
    b = TreeBuilder()
    b.act("p", "bench_poll")
    b.gw("g", "ExclusiveGateway")
    b.chain(b.start_id, "p", "g")
    b.flow("g", "p", condition="${_loop} < 3")
    b.flow("g", b.end_id, default=True)
    sim = Simulator(b.build()).start()
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert sim.rows["p"].loop == 3 and [h["loop"] for h in sim.histories if h["key"] == "p"] == [1, 2]


def test_a_failed_node_counts_among_the_nodes_a_step_ended():
    sim = Simulator(_poll_node()).start()
    first = sim.effects.popleft()
    walker = sim.step(lambda w: (operations.apply_result(
        w, "p", first.version, 0, Outcome.failure("boom"), {}, {}, 0), w)[1])
    assert [rec.key for rec in walker.finished_nodes] == ["p"]
    assert walker.finished_nodes[0].state == s.FAILED


def _flaky_beside_slow(tmp_path) -> Simulator:
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
    return Simulator(b.build()).start()


def test_the_frontier_tells_whether_a_failed_node_waits_for_its_automatic_retry(tmp_path):
    sim = _flaky_beside_slow(tmp_path)
    by_key = {e.key: e for e in sim.effects}
    sim.effects.clear()
    sim.run_component(by_key["f"])
    assert sim.run.frontier["active"]["f"]["rw"]
    sim.drain()  # nothing queued: the retry event was cleared with the other effects
    sim.step(lambda w: operations.apply_auto_retry(w, "f", sim.rows["f"].version))
    sim.drain()
    assert sim.rows["f"].retry == 1 and not sim.run.frontier["active"]["f"]["rw"]


@pytest.mark.parametrize("retry_due", [True, False])
def test_a_frontier_written_before_the_retry_flag_reads_the_nodes_row(tmp_path, retry_due):
    sim = _flaky_beside_slow(tmp_path)
    by_key = {e.key: e for e in sim.effects}
    sim.effects.clear()
    sim.run_component(by_key["f"])
    if not retry_due:
        sim.rows["f"].phase = s.PHASE_NONE  # as after its retries were used up
    del sim.run.frontier["active"]["f"]["rw"]  # an older frontier
    assert sim.report(by_key["slow"], Outcome.success()) is True
    assert sim.signals == ([] if retry_due else [s.FAILED])


def test_inputs_and_conditions_read_the_nodes_loop_counters():
    b = TreeBuilder()
    b.act("a", "noop", {"loop": "${_loop}", "inner": "${_inner_loop}", "both": "${_loop}-${_inner_loop}"})
    b.gw("g", "ExclusiveGateway")
    b.chain(b.start_id, "a", "g")
    b.flow("g", "a", condition="${_inner_loop} < 3")
    b.flow("g", b.end_id, default=True)
    sim = Simulator(b.build()).start()
    assert sim.run.state == s.FINISHED
    inputs = sim.rows["a"].inputs
    assert (inputs["loop"], inputs["inner"], inputs["both"]) == (3, 3, "3-3")
    assert sim.rows["g"].loop == 3


def test_one_node_feeds_every_constant_mapped_to_its_outputs():
    b = TreeBuilder()
    b.const("${c1}", "", source_type="component_outputs", source_info={"a": ["one"]})
    b.const("${c2}", "", source_type="component_outputs", source_info={"a": ["two"]})
    b.outputs = ["${c1}", "${c2}"]
    b.act("a", "var_assign", {"one": 1, "two": 2})
    b.chain(b.start_id, "a", b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.run.outputs == {"${c1}": 1, "${c2}": 2}


def test_a_step_says_whether_the_run_must_be_written():
    sim = Simulator(_poll_node()).start()
    first = sim.effects.popleft()
    probe = lambda apply: sim.step(lambda w: (apply(w), w)[1])  # noqa: E731
    assert probe(lambda w: None).changed is False  # nothing to do
    assert probe(lambda w: operations.apply_result(w, "p", "stale", 0, Outcome.success(), {}, {}, 0)).changed is False
    assert probe(lambda w: operations.apply_result(w, "p", first.version, 0, Outcome.failure("x"), {}, {}, 0)).changed
    assert sim.signals == [s.FAILED]
    # A run stopped before the frontier remembered its signal is told once more, and that is a change.
    del sim.run.frontier["failed_notified"]
    walker = probe(lambda w: None)
    assert walker.changed is True and sim.signals == [s.FAILED, s.FAILED]
    assert probe(lambda w: None).changed is False and sim.signals == [s.FAILED, s.FAILED]


@pytest.mark.parametrize("ended", ["finished", "revoked"])
def test_a_walk_on_an_ended_run_enters_nothing_and_drops_its_tokens(ended):
    sim = Simulator(linear(2, "bench_poll")).start()
    if ended == "revoked":
        sim.step(lambda w: operations.revoke(w), walk=False)
    else:
        sim.drain()
    assert sim.run.state in s.RUN_ENDED
    rows = {k: (r.state, r.loop) for k, r in sim.rows.items()}
    sim.run.frontier["ready"] = [["n1", "enter"], ["n0", "retry"]]  # tokens an older step left
    sim.step()
    assert sim.run.frontier["ready"] == []
    assert {k: (r.state, r.loop) for k, r in sim.rows.items()} == rows


def test_no_stop_is_signalled_while_a_token_waits_to_run():
    b = TreeBuilder()
    pg, cg = b.gw("pg", "ParallelGateway"), b.gw("cg", "ConvergeGateway")
    b.act("x", "test_fail", {"message": "x failed"})
    b.act("y", "test_fail", {"message": "y failed"})
    b.chain(b.start_id, pg)
    b.chain(pg, "x", cg)
    b.chain(pg, "y", cg)
    b.chain(cg, b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.state("x") == s.FAILED and sim.state("y") == s.FAILED
    assert sim.signals == [s.FAILED]
    sim.step(lambda w: operations.retry(w, "x"), walk=False)  # x waits READY in the ready list
    assert sim.signals == [s.FAILED]
    sim.step()  # x runs and fails again: stopped again, told again
    assert sim.signals == [s.FAILED, s.FAILED]
    sim.step(lambda w: operations.pause(w), walk=False)
    sim.step(lambda w: operations.retry(w, "y"))  # held: the run is paused
    assert sim.signals == [s.FAILED, s.FAILED] and sim.state("y") == s.READY


def test_a_walk_out_of_budget_stops_at_a_check_and_the_next_step_carries_on():
    """The start walk's budget (runtime/step.py) is asked every 8 tokens; the tokens it did
    not enter stay ready for the advance step that follows."""
    sim = Simulator(linear(30))
    checks: list[int] = []

    def out_of_budget() -> bool:
        checks.append(1)
        return len(checks) == 2

    sim.step(out_of_budget=out_of_budget)
    assert len(checks) == 2  # asked at the 8th and the 16th token, not at every one
    entered = sorted(key for key, rec in sim.rows.items() if rec.state == s.FINISHED)
    assert len(entered) == 15 and "n13" in entered and "n14" not in entered  # start, n0..n13
    assert [key for key, _mode in sim.run.frontier["ready"]] == ["n14"]
    assert sim.signals == [] and not sim.effects
    sim.step()  # the owed advance
    assert sim.signals == ["FINISHED"] and sim.rows["end"].state == s.FINISHED


def test_a_walk_whose_budget_never_runs_out_finishes_as_an_unbounded_one():
    checks: list[int] = []
    sim = Simulator(linear(30))
    sim.step(out_of_budget=lambda: checks.append(1) or False)
    assert sim.signals == ["FINISHED"] and len(checks) == 4  # 32 tokens: start, 30 nodes, end
