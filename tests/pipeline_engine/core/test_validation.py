"""Validation rules: each message names the node and the rule."""
from __future__ import annotations

import pytest

from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import TreeInvalid
from tests.pipeline_engine.trees import TreeBuilder, linear, parallel


def _invalid(tree: dict, *fragments: str) -> str:
    with pytest.raises(TreeInvalid) as info:
        validate_tree(tree)
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    return info.value.message


def test_valid_trees_pass_and_converge_is_computed():
    validate_tree(linear(3))
    tree = parallel(3)
    tree["gateways"]["pg"].pop("converge_gateway_id", None)
    validate_tree(tree)
    assert tree["gateways"]["pg"]["converge_gateway_id"] == "cg"


def test_start_linked_to_end():
    b = TreeBuilder()
    b.chain(b.start_id, b.end_id)
    _invalid(b.build(), "EmptyStartEvent start", "straight to the end event")


def test_activity_with_two_outgoing_flows():
    b = TreeBuilder()
    b.act("a")
    b.act("x")
    b.chain(b.start_id, "a", b.end_id)
    b.flow("a", "x")
    b.flow("x", b.end_id)
    _invalid(b.build(), "ServiceActivity a", "exactly one outgoing flow")


def test_unreachable_and_isolated_nodes():
    b = TreeBuilder()
    b.act("a")
    b.act("lonely")
    b.act("orphan")
    b.act("orphan2")
    b.chain(b.start_id, "a", b.end_id)
    b.chain("orphan", "orphan2", b.end_id)
    message = _invalid(b.build(), "lonely", "isolated")
    assert "orphan" in message and "not reachable" in message


def test_unknown_component():
    b = TreeBuilder()
    b.act("a", "no_such_component")
    b.chain(b.start_id, "a", b.end_id)
    _invalid(b.build(), "ServiceActivity a", "no_such_component", "not registered")


def test_reference_to_missing_constant():
    b = TreeBuilder()
    b.const("${known}", 1)
    b.act("a", "noop", {"x": "${unknown}", "y": "${_loop}", "z": "${known}"})
    b.chain(b.start_id, "a", b.end_id)
    _invalid(b.build(), "ServiceActivity a", "input x", "${unknown}")


def test_shell_variables_inside_script_text_are_not_constants():
    b = TreeBuilder()
    b.const("${known}", 1)
    b.act("a", "noop", {"content": "echo ${HOME} ${var:-x} ${known}\nexit 0", "nested": ["cd ${PWD}/x"]})
    b.chain(b.start_id, "a", b.end_id)
    validate_tree(b.build())


def test_condition_with_missing_constant():
    b = TreeBuilder()
    g = b.gw("g", "ExclusiveGateway")
    b.act("a")
    b.chain(b.start_id, g)
    b.flow(g, "a", condition="${nope} == 1")
    b.chain("a", b.end_id)
    _invalid(b.build(), "ExclusiveGateway g", "condition", "${nope}")


def test_parallel_branch_reaching_end_without_converge():
    b = TreeBuilder()
    pg = b.gw("pg", "ParallelGateway")
    cg = b.gw("cg", "ConvergeGateway")
    b.act("a")
    b.act("b")
    b.act("c")
    b.chain(b.start_id, pg)
    b.chain(pg, "a", cg)
    b.chain(pg, "b", cg)
    b.chain(cg, b.end_id)
    g = b.gw("x", "ExclusiveGateway")
    b.chain(pg, "c", g)
    b.flow(g, cg, condition="True")
    b.flow(g, b.end_id, condition="False")
    _invalid(b.build(), "ParallelGateway pg")


def test_node_reachable_from_two_parallel_branches():
    b = TreeBuilder()
    pg = b.gw("pg", "ParallelGateway")
    cg = b.gw("cg", "ConvergeGateway")
    g = b.gw("x", "ExclusiveGateway")
    b.act("a")
    b.act("b")
    b.act("shared")
    b.chain(b.start_id, pg)
    b.chain(pg, "a", g)
    b.flow(g, "shared", condition="True")
    b.flow(g, cg, condition="False")
    b.chain(pg, "b", "shared", cg)
    b.chain(cg, b.end_id)
    _invalid(b.build(), "shared", "two parallel branches")


def test_nested_parallel_and_subprocess_are_checked():
    inner = TreeBuilder()
    inner.act("bad", "no_such_component")
    inner.chain(inner.start_id, "bad", inner.end_id)
    b = TreeBuilder()
    b.sub("sp", inner.build())
    b.chain(b.start_id, "sp", b.end_id)
    _invalid(b.build(), "ServiceActivity bad", "not registered")


def test_malformed_tree():
    _invalid({"start_event": {}}, "malformed")
