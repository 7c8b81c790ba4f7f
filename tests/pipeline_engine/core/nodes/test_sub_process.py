"""SubProcess (core/nodes/sub_process.py): its variables in, its outputs out, its nodes' keys."""
from __future__ import annotations

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
)


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
    sim = Simulator(parent.build()).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["sp/assign"].inputs["value"] == "hello world!"
    assert sim.rows["sp"].outputs["${echoed}"] == "hello world!"
    assert sim.rows["after"].inputs["got"] == "hello world!"
    assert sim.run.outputs == {"${result}": "hello world!"}


def _nested(child_constant: str) -> dict:
    inner = TreeBuilder()
    inner.const("${c}", child_constant)
    inner.act("iv", "noop", {"v": "${c}"})
    inner.chain(inner.start_id, "iv", inner.end_id)
    b = TreeBuilder()
    b.const("${a}", "${b}")
    b.const("${b}", "${a}")
    b.const("${p}", "parent")
    b.sub("sp", inner.build())
    b.chain(b.start_id, "sp", b.end_id)
    return b.build()


def test_child_variables_are_resolved_in_the_parent_when_entered():
    sim = Simulator(_nested("${p}-child")).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["sp"].inputs == {"${c}": "parent-child"}
    assert sim.rows["sp/iv"].inputs["v"] == "parent-child" and sim.rows["sp/iv"].scope == "sp"


def test_unresolvable_variables_fail_the_subprocess():
    sim = Simulator(_nested("${a}")).start()
    assert sim.state("sp") == s.FAILED and "sp/start" not in sim.rows
    assert sim.rows["sp"].ex_data.startswith("subprocess variables could not be resolved")
    assert sim.signals == [s.FAILED]
    sim.step(lambda w: operations.retry(w, "sp"))  # a subprocess may be retried
    assert sim.rows["sp"].retry == 1 and sim.state("sp") == s.FAILED
