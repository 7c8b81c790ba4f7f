"""ConvergeGateway (core/nodes/converge_gateway.py): joins count each branch once; where branches meet."""
from __future__ import annotations

from pipeline_engine.core import states as s
from pipeline_engine.core.components import Outcome
from pipeline_engine.core.nodes.converge_gateway import find_converge
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    parallel,
)


def test_the_join_waits_for_every_branch_and_passes_once():
    sim = Simulator(parallel(3, "bench_poll")).start()
    assert sim.run.frontier["joins"] == {"cg": [0, 3]}
    effects = list(sim.effects)
    sim.effects.clear()
    sim.report(effects[0], Outcome.success())
    sim.report(effects[1], Outcome.success())
    assert sim.run.frontier["joins"] == {"cg": [2, 3]} and "cg" not in sim.rows
    sim.report(effects[2], Outcome.success())
    assert sim.run.frontier["joins"] == {} and sim.rows["cg"].state == s.FINISHED and sim.rows["cg"].loop == 1
    assert sim.run.state == s.FINISHED


def test_a_converge_without_a_join_lets_every_token_pass():
    """A converge merging exclusive branches has no fork: the token of the branch taken passes."""
    b = TreeBuilder()
    b.const("${x}", 1)
    g = b.gw("g", "ExclusiveGateway")
    b.act("a")
    b.act("b")
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    b.flow(g, "a", condition="${x} == 1")
    b.flow(g, "b", condition="${x} == 2")
    b.chain("a", c)
    b.chain("b", c)
    b.chain(c, b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.run.state == s.FINISHED and sim.rows["c"].state == s.FINISHED and "b" not in sim.rows


GRAPH = {
    # pg -> (a -> pg2 -> (x | y) -> cg2 -> b | c) -> cg -> after
    "pg": ["a", "c"], "a": ["pg2"], "pg2": ["x", "y"], "x": ["cg2"], "y": ["cg2"], "cg2": ["b"], "b": ["cg"],
    "c": ["cg"], "cg": ["after"], "after": [],
}


def meet(fork: str, graph: dict[str, list[str]]) -> str | None:
    return find_converge(fork, graph[fork], lambda n: graph.get(n, []), lambda n: n.startswith("cg"))


def test_find_converge_skips_nested_blocks_and_follows_the_slowest_branch():
    assert meet("pg", GRAPH) == "cg"
    assert meet("pg2", GRAPH) == "cg2"


def test_find_converge_none_when_branches_do_not_meet_and_unknown_nodes_are_dead_ends():
    apart = {"pg": ["a", "b"], "a": ["cg1"], "b": ["cg2"], "cg1": [], "cg2": []}
    assert meet("pg", apart) is None
    dangling = {"pg": ["a", "ghost"], "a": ["cg"], "cg": []}
    assert meet("pg", dangling) is None
    looping = {"pg": ["a", "b"], "a": ["pg"], "b": ["cg"], "cg": []}  # a branch back to its fork stops there
    assert meet("pg", looping) is None
