"""Walker semantics against the pure core (no database, no broker)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components.base import Outcome
from pipeline_engine.errors import InvalidOperation
from tests.pipeline_engine.sim import Sim
from tests.pipeline_engine.trees import TreeBuilder, linear, parallel


def test_linear_chain_finishes_in_one_step():
    sim = Sim(linear(50)).start()
    assert sim.run.state == s.FINISHED
    assert sim.signals == [s.FINISHED]
    assert len(sim.rows) == 52
    assert all(r.state == s.FINISHED for r in sim.rows.values())


def test_parallel_noop_branches_converge_once():
    sim = Sim(parallel(100)).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["cg"].state == s.FINISHED
    assert sim.signals == [s.FINISHED]


def test_parallel_slow_branches_and_duplicate_reports_count_once():
    sim = Sim(parallel(3, "bench_poll")).start()
    effects = list(sim.effects)
    sim.effects.clear()
    assert len(effects) == 3
    # Deliver every branch result twice (a redelivered message): the second copy is stale.
    for effect in effects:
        assert sim.report(effect, Outcome.success()) is True
        assert sim.report(effect, Outcome.success()) is False
    assert sim.run.state == s.FINISHED
    assert sim.rows["cg"].loop == 1
    assert sim.signals == [s.FINISHED]


def _exclusive(condition_a: str, condition_b: str, default: bool = False) -> dict:
    b = TreeBuilder()
    b.const("${x}", 5)
    g = b.gw("g", "ExclusiveGateway")
    a1, a2 = b.act("a1"), b.act("a2")
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    b.flow(g, a1, condition=condition_a)
    b.flow(g, a2, condition=condition_b, default=default)
    b.chain(a1, c)
    b.chain(a2, c)
    b.chain(c, b.end_id)
    return b.build()


def test_exclusive_gateway_takes_the_true_branch():
    sim = Sim(_exclusive("${x} > 3", "${x} <= 3")).start()
    assert sim.run.state == s.FINISHED
    assert "a1" in sim.rows and "a2" not in sim.rows


def test_exclusive_gateway_default_flow_when_nothing_meets():
    sim = Sim(_exclusive("${x} > 30", "${x} > 40", default=True)).start()
    assert sim.run.state == s.FINISHED
    assert "a2" in sim.rows and "a1" not in sim.rows


def test_exclusive_gateway_fails_on_multiple_or_no_conditions_and_can_be_skipped():
    sim = Sim(_exclusive("${x} > 1", "${x} > 2")).start()
    assert sim.state("g") == s.FAILED
    assert "multiple conditions meet" in sim.rows["g"].ex_data
    assert sim.display == s.FAILED
    assert sim.signals == [s.FAILED]
    flow_to_a2 = next(f for f in sim.tree.root.nodes["g"].outgoing if f.endswith("a2"))
    sim.step(lambda w: operations.skip_exclusive_gateway(w, "g", flow_to_a2))
    assert sim.run.state == s.FINISHED
    assert sim.rows["g"].skip is True and "a2" in sim.rows

    sim = Sim(_exclusive("${x} > 10", "${x} > 20")).start()
    assert "no condition meets" in sim.rows["g"].ex_data


def test_conditional_parallel_forks_true_branches_and_joins_them():
    b = TreeBuilder()
    b.const("${x}", 2)
    g = b.gw("g", "ConditionalParallelGateway")
    ids = [b.act(f"a{i}", "bench_poll") for i in range(3)]
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    for i, a in enumerate(ids):
        b.flow(g, a, condition=f"${{x}} > {i}")
        b.chain(a, c)
    b.chain(c, b.end_id)
    sim = Sim(b.build()).start()
    assert sorted(k for k in sim.rows if k.startswith("a")) == ["a0", "a1"]
    assert sim.run.frontier["joins"] == {"c": [0, 2]}
    sim.drain()
    assert sim.run.state == s.FINISHED


def test_subprocess_constants_outputs_and_status_keys():
    child = TreeBuilder()
    child.const("${greeting}", "hello ${name}")
    child.const("${echoed}", "", source_type="component_outputs", source_info={"assign": ["value"]})
    child.act("assign", "var_assign", {"value": "${greeting}!"})
    child.chain(child.start_id, "assign", child.end_id)
    child.outputs = ["${echoed}"]
    parent = TreeBuilder()
    parent.const("${name}", "world")
    parent.const("${result}", "", source_type="component_outputs", source_info={"sp": ["${echoed}"]})
    parent.outputs = ["${result}"]
    parent.sub("sp", child.build())
    parent.act("after", "var_assign", {"got": "${result}"})
    parent.chain(parent.start_id, "sp", "after", parent.end_id)
    sim = Sim(parent.build()).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["sp/assign"].inputs["value"] == "hello world!"
    assert sim.rows["sp"].outputs["${echoed}"] == "hello world!"
    assert sim.rows["after"].inputs["got"] == "hello world!"
    assert sim.run.outputs == {"${result}": "hello world!"}


def _loop_tree(limit_expr: str) -> dict:
    b = TreeBuilder()
    a = b.act("a", "noop")
    g = b.gw("g", "ExclusiveGateway")
    b.chain(b.start_id, a, g)
    b.flow(g, a, condition=limit_expr)
    b.flow(g, b.end_id, default=True)
    return b.build()


def test_loop_through_exclusive_gateway_keeps_history():
    sim = Sim(_loop_tree("${_loop} < 3")).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["a"].loop == 3
    assert [h["loop"] for h in sim.histories if h["key"] == "a"] == [1, 2]


def test_loop_rerun_limit_fails_the_node():
    sim = Sim(_loop_tree("True"), rerun_limit=5).start()
    assert sim.display == s.FAILED
    failed = [r for r in sim.rows.values() if r.state == s.FAILED]
    assert failed and "more than 5 times" in failed[0].ex_data


def _failing(**flags) -> dict:
    b = TreeBuilder()
    b.const("${partial}", "", source_type="component_outputs", source_info={"f": ["partial"]})
    b.act("f", "test_fail", {"message": "boom", "partial": "p1"}, **flags)
    b.act("after", "var_assign", {"seen": "${partial}"})
    b.chain(b.start_id, "f", "after", b.end_id)
    return b.build()


def test_failure_extracts_outputs_and_retry_with_new_inputs_keeps_history():
    sim = Sim(_failing()).start()
    rec = sim.rows["f"]
    assert rec.state == s.FAILED and rec.ex_data == "boom"
    assert sim.run.context[""]["values"]["partial"] == "p1"
    assert sim.display == s.FAILED
    with pytest.raises(InvalidOperation):
        sim.step(lambda w: operations.skip(w, "after"))
    sim.step(lambda w: operations.retry(w, "f", {"message": "again", "partial": "p2"}), walk=False)
    assert sim.rows["f"].state == s.READY and sim.rows["f"].retry == 1
    sim.step()
    assert sim.rows["f"].ex_data == "again"
    assert sim.rows["f"].inputs["partial"] == "p2"
    assert [h["retry"] for h in sim.histories] == [0]


def test_skip_does_not_extract_outputs_and_continues():
    sim = Sim(_failing()).start()
    sim.run.context[""]["values"]["partial"] = "before"
    sim.run.context[""]["plain"] = ["partial"]
    sim.step(lambda w: operations.skip(w, "f"))
    assert sim.run.state == s.FINISHED
    assert sim.rows["f"].skip is True
    assert sim.rows["after"].inputs["seen"] == "before"


def test_error_ignorable_continues_with_outputs():
    sim = Sim(_failing(error_ignorable=True)).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["f"].error_ignored is True
    assert sim.rows["after"].inputs["seen"] == "p1"


def test_not_skippable_and_not_retryable_are_refused():
    sim = Sim(_failing(skippable=False, retryable=False)).start()
    with pytest.raises(InvalidOperation, match="not skippable"):
        sim.step(lambda w: operations.skip(w, "f"))
    with pytest.raises(InvalidOperation, match="not retryable"):
        sim.step(lambda w: operations.retry(w, "f"))


def test_auto_retry_retries_then_succeeds(tmp_path):
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "c"), "fail_times": 2},
          auto_retry={"enable": True, "times": 3, "interval": 1})
    b.chain(b.start_id, "f", b.end_id)
    sim = Sim(b.build()).start()
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert sim.rows["f"].retry == 2
    assert [h["state"] for h in sim.histories] == [s.FAILED, s.FAILED]


def test_auto_retry_gives_up_after_times(tmp_path):
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "c"), "fail_times": 99},
          auto_retry={"enable": True, "times": 2, "interval": 0})
    b.chain(b.start_id, "f", b.end_id)
    sim = Sim(b.build()).start()
    sim.drain()
    assert sim.rows["f"].state == s.FAILED and sim.rows["f"].retry == 2
    assert sim.signals == [s.FAILED]


def _callback_tree() -> dict:
    b = TreeBuilder()
    b.const("${cb}", "", source_type="component_outputs", source_info={"p": ["callback_data"]})
    b.outputs = ["${cb}"]
    b.act("p", "pause_node")
    b.chain(b.start_id, "p", b.end_id)
    return b.build()


def test_callback_waits_and_applies_once():
    sim = Sim(_callback_tree()).start()
    sim.drain()
    assert sim.rows["p"].phase == s.PHASE_CALLBACK
    assert sim.step(lambda w: operations.callback(w, "p", {"ok": 1}), walk=False) is True
    assert sim.step(lambda w: operations.callback(w, "p", {"ok": 1}), walk=False) is False  # idempotent
    with pytest.raises(InvalidOperation, match="already received"):
        sim.step(lambda w: operations.callback(w, "p", {"other": 2}), walk=False)
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert sim.run.outputs == {"${cb}": {"ok": 1}}
    with pytest.raises(InvalidOperation):
        sim.step(lambda w: operations.callback(w, "p", {"ok": 1}), walk=False)


def test_callback_before_the_node_waits_is_kept():
    sim = Sim(_callback_tree()).start()
    execute = sim.effects.popleft()  # the execute message has not run yet
    sim.step(lambda w: operations.callback(w, "p", "early"), walk=False)
    assert sim.rows["p"].callback_status == s.CB_PENDING
    sim.effects.append(execute)
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert sim.rows["p"].outputs["callback_data"] == "early"


def test_callback_wrong_node_or_version():
    sim = Sim(_callback_tree()).start()
    sim.drain()
    with pytest.raises(InvalidOperation, match="not exist"):
        sim.step(lambda w: operations.callback(w, "p", 1, version="nope"), walk=False)
    with pytest.raises(InvalidOperation, match="not waiting"):
        sim.step(lambda w: operations.callback(w, "start", 1), walk=False)


def test_forced_fail_drops_the_late_result():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0})
    b.chain(b.start_id, "slow", b.end_id)
    sim = Sim(b.build()).start()
    effect = sim.effects.popleft()
    sim.step(lambda w: operations.forced_fail(w, "slow", "stop it"), walk=False)
    assert sim.rows["slow"].state == s.FAILED
    assert sim.report(effect, Outcome.success(), {"slept": 1}) is False
    assert sim.rows["slow"].state == s.FAILED and sim.rows["slow"].ex_data == "stop it"
    with pytest.raises(InvalidOperation):
        sim.step(lambda w: operations.forced_fail(w, "slow"), walk=False)


def test_timeout_force_fails_only_when_due():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0}, timeout=5)
    b.chain(b.start_id, "slow", b.end_id)
    sim = Sim(b.build()).start()
    timer = sim.timers[0]
    assert sim.step(lambda w: operations.apply_timeout(w, "slow", timer.version)) is False  # not yet due
    sim.clock += timedelta(seconds=5)
    assert sim.step(lambda w: operations.apply_timeout(w, "slow", timer.version)) is True
    assert "timed out" in sim.rows["slow"].ex_data


def test_pause_holds_tokens_and_resume_releases_them():
    sim = Sim(linear(3, "bench_poll")).start()
    sim.step(lambda w: operations.pause(w), walk=False)
    sim.drain()
    assert sim.rows["n0"].state == s.FINISHED  # running work finishes
    assert "n1" not in sim.rows  # nothing new starts
    assert sim.display == s.SUSPENDED
    with pytest.raises(InvalidOperation):
        sim.step(lambda w: operations.pause(w), walk=False)
    sim.step(lambda w: operations.resume(w))
    sim.drain()
    assert sim.run.state == s.FINISHED


def test_revoke_releases_waiting_node_and_refuses_later_ops():
    sim = Sim(_callback_tree()).start()
    sim.drain()
    sim.step(lambda w: operations.revoke(w), walk=False)
    assert sim.run.state == s.REVOKED
    assert sim.rows["p"].state == s.REVOKED
    assert sim.signals == [s.REVOKED]
    for op in (lambda w: operations.revoke(w), lambda w: operations.pause(w), lambda w: operations.callback(w, "p", 1)):
        with pytest.raises(InvalidOperation):
            sim.step(op, walk=False)


def test_pause_and_resume_subprocess():
    child = TreeBuilder()
    child.act("c1", "bench_poll")
    child.act("c2", "noop")
    child.chain(child.start_id, "c1", "c2", child.end_id)
    parent = TreeBuilder()
    parent.sub("sp", child.build())
    parent.chain(parent.start_id, "sp", parent.end_id)
    sim = Sim(parent.build()).start()
    sim.step(lambda w: operations.pause_subprocess(w, "sp"), walk=False)
    assert sim.display == s.NODE_SUSPENDED
    sim.drain()
    assert sim.rows["sp/c1"].state == s.FINISHED and "sp/c2" not in sim.rows
    sim.step(lambda w: operations.resume_subprocess(w, "sp"))
    assert sim.run.state == s.FINISHED


@pytest.mark.parametrize("payload", [
    "${__import__('os').system('id')}",
    "${x.__class__.__mro__}",
    "${(i for i in [1]).gi_frame}",
    "${open('/etc/passwd').read()}",
])
def test_injection_payload_fails_the_node(payload):
    b = TreeBuilder()
    b.const("${x}", "v")
    b.act("a", "var_assign", {"v": payload})
    b.chain(b.start_id, "a", b.end_id)
    tree = b.build()
    try:
        sim = Sim(tree).start()
    except Exception as exc:  # refused up front by validation is as good
        assert "TreeInvalid" in type(exc).__name__
        return
    rec = sim.rows["a"]
    assert rec.state == s.FAILED, rec.inputs
    assert "input rendering failed" in rec.ex_data


def test_revoke_after_retry_leaves_nothing_ready():
    sim = Sim(_failing()).start()
    sim.step(lambda w: operations.retry(w, "f"), walk=False)
    assert sim.rows["f"].state == s.READY
    sim.step(lambda w: operations.revoke(w), walk=False)
    sim.step()
    assert sim.rows["f"].state == s.REVOKED
    assert not sim.run.frontier["ready"]


# --- the FAILED stop is told once, whatever stopped the run ---------------------
def test_forced_fail_operation_signals_the_failed_stop():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0})
    b.chain(b.start_id, "slow", b.end_id)
    sim = Sim(b.build()).start()
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
    sim = Sim(parallel(2, "bench_poll")).start()
    first, second = sim.effects.popleft(), sim.effects.popleft()
    sim.step(lambda w: operations.forced_fail(w, first.key), walk=False)
    assert sim.signals == []  # the other branch still runs
    assert sim.report(second, Outcome.success()) is True
    assert sim.signals == [s.FAILED]


def test_timeout_signals_the_failed_stop():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0}, timeout=5)
    b.chain(b.start_id, "slow", b.end_id)
    sim = Sim(b.build()).start()
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
    sim = Sim(b.build()).start()
    by_key = {e.key: e for e in sim.effects}
    sim.effects.clear()
    assert sim.run_component(by_key["f"]) is True  # fails, retry due in 5 s
    assert sim.rows["f"].phase == s.PHASE_RETRY_WAIT
    assert sim.report(by_key["slow"], Outcome.success()) is True
    assert sim.signals == []
    sim.drain()  # the retry runs and fails for good
    assert sim.rows["f"].state == s.FAILED and sim.rows["f"].retry == 1
    assert sim.signals == [s.FAILED]
