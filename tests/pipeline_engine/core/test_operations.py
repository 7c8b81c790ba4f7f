"""Operations (core/operations.py): what operators may do, and what they are refused."""
from __future__ import annotations

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.errors import InvalidOperation
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    callback_tree,
    failing,
    linear,
)


def test_skip_does_not_extract_outputs_and_continues():
    sim = Simulator(failing()).start()
    sim.run.context[""]["values"]["partial"] = "before"
    sim.run.context[""]["plain"] = ["partial"]
    sim.step(lambda w: operations.skip(w, "f"))
    assert sim.run.state == s.FINISHED
    assert sim.rows["f"].skip is True
    assert sim.rows["after"].inputs["seen"] == "before"


def test_not_skippable_and_not_retryable_are_refused():
    sim = Simulator(failing(skippable=False, retryable=False)).start()
    with pytest.raises(InvalidOperation, match="not skippable"):
        sim.step(lambda w: operations.skip(w, "f"))
    with pytest.raises(InvalidOperation, match="not retryable"):
        sim.step(lambda w: operations.retry(w, "f"))


def test_pause_holds_tokens_and_resume_releases_them():
    sim = Simulator(linear(3, "bench_poll")).start()
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
    sim = Simulator(callback_tree()).start()
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
    sim = Simulator(parent.build()).start()
    sim.step(lambda w: operations.pause_subprocess(w, "sp"), walk=False)
    assert sim.display == s.NODE_SUSPENDED
    sim.drain()
    assert sim.rows["sp/c1"].state == s.FINISHED and "sp/c2" not in sim.rows
    sim.step(lambda w: operations.resume_subprocess(w, "sp"))
    assert sim.run.state == s.FINISHED


def test_revoke_after_retry_leaves_nothing_ready():
    sim = Simulator(failing()).start()
    sim.step(lambda w: operations.retry(w, "f"), walk=False)
    assert sim.rows["f"].state == s.READY
    sim.step(lambda w: operations.revoke(w), walk=False)
    sim.step()
    assert sim.rows["f"].state == s.REVOKED
    assert not sim.run.frontier["ready"]
