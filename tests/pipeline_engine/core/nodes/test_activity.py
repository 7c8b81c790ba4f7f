"""ServiceActivity (core/nodes/activity.py): inputs, components, outcomes, its failure rules,
callbacks, forced failure and timeouts."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.components import Component, Outcome, register, unregister
from pipeline_engine.core.nodes.activity import preview_inputs
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import InvalidOperation, NodeNotFound, TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    callback_tree,
    failing,
    in_subprocess,
    linear,
    waiting_tree,
)


def test_failure_extracts_outputs_and_retry_with_new_inputs_keeps_history():
    sim = Simulator(failing()).start()
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


def test_error_ignorable_continues_with_outputs():
    sim = Simulator(failing(error_ignorable=True)).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["f"].error_ignored is True
    assert sim.rows["after"].inputs["seen"] == "p1"


def test_auto_retry_retries_then_succeeds(tmp_path):
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "c"), "fail_times": 2},
          auto_retry={"enable": True, "times": 3, "interval": 1})
    b.chain(b.start_id, "f", b.end_id)
    sim = Simulator(b.build()).start()
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert sim.rows["f"].retry == 2
    assert [h["state"] for h in sim.histories] == [s.FAILED, s.FAILED]


def test_auto_retry_gives_up_after_times(tmp_path):
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "c"), "fail_times": 99},
          auto_retry={"enable": True, "times": 2, "interval": 0})
    b.chain(b.start_id, "f", b.end_id)
    sim = Simulator(b.build()).start()
    sim.drain()
    assert sim.rows["f"].state == s.FAILED and sim.rows["f"].retry == 2
    assert sim.signals == [s.FAILED]


def test_callback_waits_and_applies_once():
    sim = Simulator(callback_tree()).start()
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
    sim = Simulator(callback_tree("test_wait")).start()
    execute = sim.effects.popleft()  # the execute message has not run yet
    sim.step(lambda w: operations.callback(w, "p", "early"), walk=False)
    assert sim.rows["p"].callback_status == s.CB_PENDING
    sim.effects.append(execute)
    sim.drain()
    assert sim.run.state == s.FINISHED
    assert sim.rows["p"].outputs["callback_data"] == "early"


def test_an_inline_component_takes_its_callback_in_the_step_that_delivers_it():
    sim = Simulator(waiting_tree()).start()
    assert sim.rows["p"].phase == s.PHASE_CALLBACK and not sim.effects  # pause_node's execute ran in the walk
    assert sim.step(lambda w: operations.callback(w, "p", {"ok": 1}, inline=True)) is True
    assert not sim.effects  # no component message: its schedule ran in this step
    p = sim.rows["p"]
    assert (p.state, p.callback_status, p.outputs["callback_data"]) == (s.FINISHED, s.CB_APPLIED, {"ok": 1})
    assert sim.rows["after"].state == s.FINISHED  # and the walk went on from it
    assert sim.run.state == s.FINISHED and sim.signals == [s.FINISHED] and sim.run.outputs == {"${cb}": {"ok": 1}}
    assert sim.logs[("p", p.version)][-1][2] == "callback received (dict): resuming"
    with pytest.raises(InvalidOperation, match="FINISHED"):  # taken already: a repeat is refused
        sim.step(lambda w: operations.callback(w, "p", {"ok": 1}, inline=True))


def test_an_inline_callback_leaves_the_node_as_a_workers_would():
    fields = ("state", "phase", "callback_status", "callback_data", "schedule_count", "outputs", "ex_data",
              "lease_until", "retry")
    here = Simulator(waiting_tree()).start()
    here.step(lambda w: operations.callback(w, "p", [1, "x"], inline=True))
    worker = Simulator(waiting_tree()).start()
    worker.step(lambda w: operations.callback(w, "p", [1, "x"]), walk=False)
    assert len(worker.effects) == 1  # the schedule call, sent to a worker
    worker.drain()
    assert [getattr(here.rows["p"], f) for f in fields] == [getattr(worker.rows["p"], f) for f in fields]
    assert here.run.outputs == worker.run.outputs == {"${cb}": [1, "x"]}
    logged = [[line[1:] for line in sim.logs[("p", sim.rows["p"].version)]] for sim in (here, worker)]
    assert logged[0] == logged[1] and len(logged[0]) == 2  # the same lines (their times differ)


def test_a_callback_to_a_component_that_is_not_inline_still_goes_to_a_worker():
    sim = Simulator(callback_tree("test_wait")).start()
    sim.drain()  # its execute, in a worker
    assert sim.rows["p"].phase == s.PHASE_CALLBACK
    sim.step(lambda w: operations.callback(w, "p", "data", inline=True))
    (effect,) = sim.effects
    assert (effect.kind, effect.key, sim.rows["p"].state, sim.rows["p"].callback_status) == (
        "component", "p", s.RUNNING, s.CB_QUEUED)
    assert sim.rows["p"].wake_at == sim.clock  # due now, for the worker's claim
    assert sim.run.frontier["active"]["p"]["cb"] == 1  # the worker's result step re-reads the row
    sim.drain()
    assert sim.run.state == s.FINISHED and sim.run.outputs == {"${cb}": "data"}


def test_an_inline_callback_runs_the_nodes_version_with_its_run_state_polls_and_logs():
    calls: list[tuple] = []

    class Base(Component):
        code = "test_activity_inline_cb"

        def execute(self, ctx):
            ctx.state["n"] = 0
            return Outcome.wait_callback()

    @register
    class Inline(Base):
        version = "v2"
        inline = True

        def schedule(self, ctx, callback_data=None):
            calls.append((ctx.run_id, ctx.time_zone, ctx.executor, callback_data))
            ctx.state["n"] += 1
            ctx.log.info("got %s", callback_data)
            if callback_data == "poll-first":
                return Outcome.poll(0)  # served at once, in the same call, with no data
            if callback_data is None or callback_data == "again":
                return Outcome.wait_callback()
            ctx.outputs["last"] = callback_data
            return Outcome.success()

    @register
    class Worker(Base):  # the code's default (legacy) version is not inline: the node asks for v2
        inline = False

    try:
        b = TreeBuilder()
        b.act("t", "test_activity_inline_cb")
        b.nodes["t"]["component"]["version"] = "v2"
        b.chain(b.start_id, "t", b.end_id)
        sim = Simulator(b.build(), run_id="r9", time_zone="Asia/Shanghai", executor="bob").start()
        walkers = []
        sim.step(lambda w: (walkers.append(w), operations.callback(w, "t", "poll-first", inline=True))[1])
        t = sim.rows["t"]
        assert (t.state, t.phase, t.callback_status, t.callback_data) == (s.RUNNING, s.PHASE_CALLBACK, s.CB_NONE, None)
        assert calls == [("r9", "Asia/Shanghai", "bob", "poll-first"), ("r9", "Asia/Shanghai", "bob", None)]
        assert t.comp_state == {"n": 2}  # kept for the next call
        assert t.schedule_count == 3  # the execute's wait, the immediate poll, this wait
        assert sim.run.state == s.RUNNING and not sim.effects
        assert "cb" not in sim.run.frontier["active"]["t"]  # no worker holds the row
        (logged,) = walkers[0].logs
        assert logged[:3] == ("t", "t", t.version) and [line[2] for line in logged[3]] == ["got poll-first", "got None"]
        sim.step(lambda w: operations.callback(w, "t", "again", inline=True))  # waits once more
        assert sim.rows["t"].state == s.RUNNING and sim.rows["t"].schedule_count == 4
        sim.step(lambda w: operations.callback(w, "t", "done", inline=True))
        assert sim.rows["t"].state == s.FINISHED and sim.run.state == s.FINISHED and not sim.effects
        assert sim.rows["t"].outputs["last"] == "done" and sim.rows["t"].comp_state == {"n": 4}
    finally:
        unregister("test_activity_inline_cb")


def test_a_refused_callback_names_the_node_and_its_state():
    sim = Simulator(failing()).start()  # f failed (its entry stays, FAILED); after never started
    with pytest.raises(InvalidOperation, match=r"^node\(f\) is not waiting for a callback \(state FAILED\)$"):
        sim.step(lambda w: operations.callback(w, "f", 1, inline=True))
    with pytest.raises(InvalidOperation, match=r"^node\(after\) is not waiting for a callback \(state not started\)$"):
        sim.step(lambda w: operations.callback(w, "after", 1, inline=True))
    sim = Simulator(in_subprocess("p", "test_wait")).start()
    sim.drain()
    sim.step(lambda w: operations.callback(w, "sp/p", 1), walk=False)  # queued for a worker
    with pytest.raises(InvalidOperation, match=r"^node\(p\) has already received a callback$"):
        sim.step(lambda w: operations.callback(w, "sp/p", 2), walk=False)
    timer = TreeBuilder()
    timer.act("t", "sleep_timer", {"bk_timing": 30})
    timer.chain(timer.start_id, "t", timer.end_id)
    sim = Simulator(timer.build()).start()
    sim.run_component(sim.effects.popleft())  # its execute answers a poll in 30 s
    assert sim.rows["t"].phase == s.PHASE_POLL
    with pytest.raises(InvalidOperation, match=r"^can't callback a poll schedule\.$"):
        sim.step(lambda w: operations.callback(w, "t", 1, inline=True))


def test_callback_wrong_node_or_version():
    sim = Simulator(callback_tree()).start()
    sim.drain()
    with pytest.raises(InvalidOperation, match="not exist"):
        sim.step(lambda w: operations.callback(w, "p", 1, version="nope"), walk=False)
    with pytest.raises(InvalidOperation, match="not waiting"):
        sim.step(lambda w: operations.callback(w, "start", 1), walk=False)


def test_forced_fail_drops_the_late_result():
    b = TreeBuilder()
    b.act("slow", "test_sleep", {"seconds": 0})
    b.chain(b.start_id, "slow", b.end_id)
    sim = Simulator(b.build()).start()
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
    sim = Simulator(b.build()).start()
    timer = sim.timers[0]
    assert sim.step(lambda w: operations.apply_timeout(w, "slow", timer.version)) is False  # not yet due
    sim.clock += timedelta(seconds=5)
    assert sim.step(lambda w: operations.apply_timeout(w, "slow", timer.version)) is True
    assert "timed out" in sim.rows["slow"].ex_data


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
        sim = Simulator(tree).start()
    except Exception as exc:  # refused up front by validation is as good
        assert "TreeInvalid" in type(exc).__name__
        return
    rec = sim.rows["a"]
    assert rec.state == s.FAILED, rec.inputs
    assert "input rendering failed" in rec.ex_data


def test_preview_renders_inputs_from_the_constants_alone():
    child = TreeBuilder()
    child.const("${c}", "${p}-child")
    child.act("n", "noop", {"v": "${c}", "later": "${_loop}/${out}"})
    child.chain(child.start_id, "n", child.end_id)
    b = TreeBuilder()
    b.const("${p}", "parent")
    b.const("${out}", "", source_type="component_outputs", source_info={"top": ["x"]})
    b.sub("sp", child.build())
    b.act("top", "noop", {"v": "${p}!", "bad": "${p.__class__}", "raw": 3})
    b.chain(b.start_id, "sp", "top", b.end_id)
    compiled = validate_tree(b.build(), check_components=False)
    assert preview_inputs(compiled, "top") == {"v": "parent!", "bad": "${p.__class__}", "raw": 3}
    assert preview_inputs(compiled, "n", ["sp"]) == {"v": "parent-child", "later": "1/${out}"}
    with pytest.raises(NodeNotFound, match=r"subprocess\(top\)"):
        preview_inputs(compiled, "n", ["top"])
    with pytest.raises(NodeNotFound, match=r"node\(n\)"):
        preview_inputs(compiled, "n")


def test_a_component_missing_at_run_time_fails_the_node():
    @register
    class Gone(Component):
        code = "test_activity_gone"
        inline = True

        def execute(self, ctx):
            return Outcome.success()

    b = TreeBuilder()
    b.act("a", "test_activity_gone")
    b.chain(b.start_id, "a", b.end_id)
    sim = Simulator(b.build())  # validated while registered
    unregister("test_activity_gone")
    sim.start()
    assert sim.state("a") == s.FAILED
    assert sim.rows["a"].ex_data == "component test_activity_gone (version legacy) is not registered"


def test_inline_components_run_in_the_step_and_others_become_work():
    sim = Simulator(linear(2)).start()  # noop is inline
    assert sim.run.state == s.FINISHED and not sim.effects
    sim = Simulator(linear(2, "bench_poll")).start()
    (effect,) = sim.effects
    assert (effect.kind, effect.key, effect.schedule_count) == ("component", "n0", 0)
    assert sim.rows["n0"].phase == s.PHASE_EXECUTE and sim.rows["n0"].wake_at == sim.clock


def test_validation_rules_of_the_activity():
    b = TreeBuilder()
    b.act("a", "")
    b.act("m", "noop", {"v": "${missing}", "script": "echo ${HOME}"})
    b.chain(b.start_id, "a", "m", b.end_id)
    with pytest.raises(TreeInvalid) as exc:
        validate_tree(b.build())
    assert "ServiceActivity a (a): has no component code" in exc.value.message
    assert "ServiceActivity m (m): input v references undefined variable ${missing}" in exc.value.message
    assert "HOME" not in exc.value.message
