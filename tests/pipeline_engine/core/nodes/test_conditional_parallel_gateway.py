"""ConditionalParallelGateway (core/nodes/conditional_parallel_gateway.py): the true branches fork."""
from __future__ import annotations

import pytest

from pipeline_engine.core import states as s
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
)


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
    sim = Simulator(b.build()).start()
    assert sorted(k for k in sim.rows if k.startswith("a")) == ["a0", "a1"]
    assert sim.run.frontier["joins"] == {"c": [0, 2]}
    sim.drain()
    assert sim.run.state == s.FINISHED


def _conditional(x: int, *, default: bool) -> dict:
    b = TreeBuilder()
    b.const("${x}", x)
    g = b.gw("g", "ConditionalParallelGateway")
    b.act("a")
    b.act("d")
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    b.flow(g, "a", condition="${x} > 5")
    b.flow(g, "d", condition="${x} > 100", default=default)
    b.chain("a", c)
    b.chain("d", c)
    b.chain(c, b.end_id)
    return b.build()


def test_the_default_flow_when_no_condition_holds_else_failure():
    sim = Simulator(_conditional(1, default=True)).start()
    assert sim.run.state == s.FINISHED and "d" in sim.rows and "a" not in sim.rows
    assert sim.rows["g"].outputs == {"flows": [next(f for f in sim.tree.root.nodes["g"].outgoing if "_d" in f)]}
    sim = Simulator(_conditional(1, default=False)).start()
    assert sim.state("g") == s.FAILED and "no condition meets and there is no default flow" in sim.rows["g"].ex_data


def test_conditions_are_checked_as_an_exclusive_gateways():
    tree = _conditional(1, default=False)
    flow = tree["gateways"]["g"]["outgoing"][0]
    tree["gateways"]["g"]["conditions"][flow]["evaluate"] = "${nope} > 1"
    with pytest.raises(TreeInvalid, match=r"ConditionalParallelGateway g \(g\): condition of flow .*\$\{nope\}"):
        validate_tree(tree)
