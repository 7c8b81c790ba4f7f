"""ExclusiveGateway (core/nodes/exclusive_gateway.py): one flow, the default flow, failures, skip."""
from __future__ import annotations

import pytest

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import InvalidOperation, TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import (
    TreeBuilder,
    exclusive,
)


def test_exclusive_gateway_takes_the_true_branch():
    sim = Simulator(exclusive("${x} > 3", "${x} <= 3")).start()
    assert sim.run.state == s.FINISHED
    assert "a1" in sim.rows and "a2" not in sim.rows


def test_exclusive_gateway_default_flow_when_nothing_meets():
    sim = Simulator(exclusive("${x} > 30", "${x} > 40", default=True)).start()
    assert sim.run.state == s.FINISHED
    assert "a2" in sim.rows and "a1" not in sim.rows


def test_exclusive_gateway_fails_on_multiple_or_no_conditions_and_can_be_skipped():
    sim = Simulator(exclusive("${x} > 1", "${x} > 2")).start()
    assert sim.state("g") == s.FAILED
    assert "multiple conditions meet" in sim.rows["g"].ex_data
    assert sim.display == s.FAILED
    assert sim.signals == [s.FAILED]
    flow_to_a2 = next(f for f in sim.tree.root.nodes["g"].outgoing if f.endswith("a2"))
    sim.step(lambda w: operations.skip_exclusive_gateway(w, "g", flow_to_a2))
    assert sim.run.state == s.FINISHED
    assert sim.rows["g"].skip is True and "a2" in sim.rows

    sim = Simulator(exclusive("${x} > 10", "${x} > 20")).start()
    assert "no condition meets" in sim.rows["g"].ex_data


def test_a_condition_that_cannot_be_evaluated_fails_the_gateway_and_retry_reevaluates():
    b = TreeBuilder()
    b.const("${x}", "abc")
    g = b.gw("g", "ExclusiveGateway")
    b.act("a1")
    b.act("a2")
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    b.flow(g, "a1", condition="${x} > 3 >")
    b.flow(g, "a2", default=True)
    b.chain("a1", c)
    b.chain("a2", c)
    b.chain(c, b.end_id)
    sim = Simulator(b.build()).start()
    assert sim.state("g") == s.FAILED and sim.rows["g"].ex_data.startswith("condition evaluation failed")
    sim.step(lambda w: operations.retry(w, "g"))  # a gateway may be retried
    assert sim.rows["g"].retry == 1 and sim.state("g") == s.FAILED


def test_skip_to_a_flow_that_is_not_the_gateways_is_refused():
    sim = Simulator(exclusive("${x} > 1", "${x} > 2")).start()
    with pytest.raises(InvalidOperation, match="is not an outgoing flow of node"):
        sim.step(lambda w: operations.skip_exclusive_gateway(w, "g", "elsewhere"))
    with pytest.raises(InvalidOperation, match="is not an exclusive gateway"):
        sim.step(lambda w: operations.skip_exclusive_gateway(w, "a1", "elsewhere"))


def test_validation_rules_of_the_exclusive_gateway():
    tree = exclusive("${x} > 1", "${missing} > 2")
    with pytest.raises(TreeInvalid, match=r"ExclusiveGateway g \(g\): condition of flow .* references undefined "
                                          r"variable \$\{missing\}"):
        validate_tree(tree)
    tree = exclusive("${x} > 1", "${x} > 2")
    tree["gateways"]["g"]["conditions"]["nowhere"] = {"evaluate": "1 == 1"}
    tree["gateways"]["g"]["default_condition"] = {"flow_id": "elsewhere"}
    with pytest.raises(TreeInvalid) as exc:
        validate_tree(tree)
    assert "condition on flow nowhere which is not one of its outgoing flows" in exc.value.message
    assert "default flow elsewhere is not one of its outgoing flows" in exc.value.message
