"""Start and end events (core/nodes/events.py): the run starts at one and ends at the other."""
from __future__ import annotations

import copy

import pytest

from pipeline_engine.core import states as s
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    linear,
)


def test_the_end_event_finishes_the_run_with_its_outputs():
    b = TreeBuilder()
    b.const("${greeting}", "hello ${name}")
    b.const("${name}", "world")
    b.const("${unused}", "x")
    b.act("a", "noop")
    b.chain(b.start_id, "a", b.end_id)
    b.outputs = ["${greeting}"]
    sim = Simulator(b.build()).start()
    assert sim.run.state == s.FINISHED and sim.run.finished_at == sim.clock
    assert sim.run.outputs == {"${greeting}": "hello world"}
    assert sim.signals == [s.FINISHED]
    assert sim.rows["start"].state == s.FINISHED and sim.rows["end"].state == s.FINISHED


def test_outputs_that_cannot_be_resolved_are_given_as_written():
    b = TreeBuilder()
    b.const("${a}", "${b}")
    b.const("${b}", "${a}")  # a cycle: resolving fails
    b.act("n", "noop")
    b.chain(b.start_id, "n", b.end_id)
    b.outputs = ["${a}"]
    sim = Simulator(b.build()).start()
    assert sim.run.state == s.FINISHED and sim.run.outputs == {"${a}": "${b}"}


def test_start_and_end_rules():
    tree = linear(1)
    ok = validate_tree(copy.deepcopy(tree))
    assert ok.root.start_id == "start"
    b = TreeBuilder()
    b.chain(b.start_id, b.end_id)
    with pytest.raises(TreeInvalid, match="the start event cannot link straight to the end event"):
        validate_tree(b.build())
    b = TreeBuilder()
    b.act("a")
    b.act("z")
    b.chain(b.start_id, "a", b.end_id)
    b.chain("a", "z")  # a second way out of "a"; "z" leads nowhere
    with pytest.raises(TreeInvalid, match="needs exactly one outgoing flow, has 2"):
        validate_tree(b.build())
