"""ParallelGateway (core/nodes/parallel_gateway.py): every branch forks and is joined once."""
from __future__ import annotations

import pytest

from pipeline_engine.core import states as s
from pipeline_engine.core.components import Outcome
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    parallel,
)


def test_parallel_noop_branches_converge_once():
    sim = Simulator(parallel(100)).start()
    assert sim.run.state == s.FINISHED
    assert sim.rows["cg"].state == s.FINISHED
    assert sim.signals == [s.FINISHED]


def test_parallel_slow_branches_and_duplicate_reports_count_once():
    sim = Simulator(parallel(3, "bench_poll")).start()
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


def test_a_fork_needs_branches_that_meet():
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.act("a")
    b.act("b")
    b.chain(b.start_id, "pg", "a", b.end_id)
    b.chain("pg", "b", b.end_id)
    with pytest.raises(TreeInvalid, match=r"ParallelGateway pg \(pg\): its branches do not meet at one converge"):
        validate_tree(b.build())
    tree = parallel(2)
    assert validate_tree(tree).root.nodes["pg"].converge_id == "cg"
    assert tree["gateways"]["pg"]["converge_gateway_id"] == "cg"  # written into the web tree
