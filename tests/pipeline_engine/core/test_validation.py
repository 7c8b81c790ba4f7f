"""Validation rules: each message names the node and the rule."""
from __future__ import annotations

import copy

import pytest

from pipeline_engine.core import states as s
from pipeline_engine.core.nodes.base import MAX_BRANCHES
from pipeline_engine.core.validation import fill_converge_ids, missing_converge_ids, validate_tree
from pipeline_engine.errors import TreeInvalid
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import TreeBuilder, exclusive, in_subprocess, linear, parallel


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




def test_nested_parallel_and_subprocess_are_checked():
    _invalid(in_subprocess("bad", "no_such_component"), "ServiceActivity bad", "not registered")


def test_malformed_tree():
    _invalid({"start_event": {}}, "malformed")


# --- one tree per rule, each asserting the rule's own message -----------------------------------


def _only_error(tree: dict) -> str:
    """The message of a tree that breaks exactly one rule (no "; " joins several)."""
    with pytest.raises(TreeInvalid) as info:
        validate_tree(tree)
    assert "; " not in info.value.message, info.value.message
    return info.value.message


def _nested_parallel() -> TreeBuilder:
    """start -> pg1 -> [pg2 -> (a, b) -> cg2 -> c | d] -> cg1 -> end: a block inside a branch."""
    b = TreeBuilder()
    for gid, kind in (("pg1", "ParallelGateway"), ("pg2", "ParallelGateway"),
                      ("cg2", "ConvergeGateway"), ("cg1", "ConvergeGateway")):
        b.gw(gid, kind)
    for node_id in "abcd":
        b.act(node_id)
    b.chain(b.start_id, "pg1")
    b.chain("pg1", "pg2", "a", "cg2", "c", "cg1")
    b.chain("pg2", "b", "cg2")
    b.chain("pg1", "d", "cg1")
    b.chain("cg1", b.end_id)
    return b


def test_a_node_the_start_never_leads_to_is_not_reachable():
    # g and y have every flow their kinds need, but only loop between themselves.
    b = TreeBuilder()
    b.act("a")
    b.gw("g", "ExclusiveGateway")
    b.act("y")
    b.chain(b.start_id, "a", b.end_id)
    b.flow("g", "y", condition="True")
    b.chain("y", "g")
    b.flow("g", b.end_id, condition="False")
    message = _invalid(b.build())
    assert message == ("ServiceActivity y (y): is not reachable from the start event; "
                       "ExclusiveGateway g (g): is not reachable from the start event")


def test_reachability_is_not_reported_again_for_a_node_without_incoming_flows():
    b = TreeBuilder()
    b.act("a")
    b.act("orphan")
    b.chain(b.start_id, "a", b.end_id)
    b.chain("orphan", b.end_id)
    assert _only_error(b.build()) == (
        "ServiceActivity orphan (orphan): needs at least one incoming flow (not reachable from the start event)")


def test_an_isolated_node_is_reported_once_and_start_and_end_by_their_own_rules():
    b = TreeBuilder()
    b.act("a")
    b.act("lonely")
    b.chain(b.start_id, "a", b.end_id)
    assert _only_error(b.build()) == "ServiceActivity lonely (lonely): is isolated (no incoming or outgoing flows)"
    # An end event nothing leads to is not "isolated": its own rule names what is missing.
    b = TreeBuilder()
    b.act("a")
    b.gw("g", "ExclusiveGateway")
    b.chain(b.start_id, "a", "g")
    b.flow("g", "a", condition="True")
    assert _only_error(b.build()) == "EmptyEndEvent end: the end event is not the target of any flow"


def test_flows_must_join_existing_nodes():
    tree = linear(1)
    tree["flows"]["fx"] = {"id": "fx", "source": "ghost", "target": "n0"}
    assert _only_error(tree) == "flow fx starts at unknown node ghost"
    tree = linear(1)
    tree["flows"]["fy"] = {"id": "fy", "source": "n0", "target": "ghost"}
    assert _only_error(tree) == "flow fy ends at unknown node ghost"


def test_a_nodes_outgoing_flows_must_exist_and_start_at_it():
    tree = linear(1)
    tree["activities"]["n0"]["outgoing"] = "nowhere"
    message = _invalid(tree)
    assert "ServiceActivity n0 (n0): outgoing flow nowhere does not exist" in message
    tree = linear(1)
    into_n0 = tree["activities"]["n0"]["incoming"][0]
    tree["activities"]["n0"]["outgoing"] = into_n0
    message = _invalid(tree)
    assert f"ServiceActivity n0 (n0): outgoing flow {into_n0} starts at another node" in message


def test_the_first_five_errors_are_shown_and_the_rest_counted():
    def tree_with(errors: int) -> dict:
        b = TreeBuilder()
        ids = [b.act(f"a{i}", "") for i in range(errors)]
        b.chain(b.start_id, *ids, b.end_id)
        return b.build()

    one = "ServiceActivity a{0} (a{0}): has no component code"
    five = "; ".join(one.format(i) for i in range(5))
    assert _invalid(tree_with(1)) == one.format(0)
    assert _invalid(tree_with(5)) == five
    assert _invalid(tree_with(6)) == five + "; and 1 more"
    assert _invalid(tree_with(7)) == five + "; and 2 more"


def test_trees_too_malformed_to_compile():
    tree = linear(1)
    tree["constants"] = {"${x}": {"value": 1, "source_type": "component_outputs", "source_info": ["n0"]}}
    _invalid(tree, "pipeline tree is malformed: ")
    tree = linear(1)
    tree["activities"]["n0"]["incoming"] = 5
    _invalid(tree, "pipeline tree is malformed: ")
    tree = linear(1)
    tree["activities"]["n0"]["type"] = "Mystery"
    assert _invalid(tree) == "pipeline tree is malformed: node n0 has unknown type 'Mystery'"


def test_components_are_checked_only_when_asked():
    b = TreeBuilder()
    b.act("a", "no_such_component")
    b.chain(b.start_id, "a", b.end_id)
    assert validate_tree(b.build(), check_components=False).root.nodes["a"].code == "no_such_component"
    assert _only_error(b.build()) == "ServiceActivity a (a): component no_such_component (version legacy) is not registered"


# --- converge detection ----------------------------------------------------------------------


def test_converge_ids_are_computed_filled_and_reported_missing():
    tree = parallel(2)  # built without converge_gateway_id
    compiled = validate_tree(tree, fill_converges=False)
    assert compiled.root.nodes["pg"].converge_id == "cg"
    assert "converge_gateway_id" not in tree["gateways"]["pg"]  # the caller's tree is left alone
    assert missing_converge_ids(tree, compiled) is True
    fill_converge_ids(tree, compiled)
    assert tree["gateways"]["pg"]["converge_gateway_id"] == "cg"
    assert missing_converge_ids(tree, compiled) is False
    assert missing_converge_ids(linear(2), validate_tree(linear(2))) is False  # no fork at all


def test_converge_ids_inside_subprocesses_are_computed_and_filled():
    child = parallel(2)
    b = TreeBuilder()
    b.sub("sp", child)
    b.chain(b.start_id, "sp", b.end_id)
    tree = b.build()
    compiled = validate_tree(tree, fill_converges=False)
    assert compiled.scopes["sp"].nodes["pg"].converge_id == "cg"
    assert missing_converge_ids(tree, compiled) is True
    validate_tree(tree)
    assert tree["activities"]["sp"]["pipeline"]["gateways"]["pg"]["converge_gateway_id"] == "cg"
    assert missing_converge_ids(tree, compiled) is False


def test_a_converge_gateway_without_incoming_lists_counts_its_flows():
    tree = parallel(3)
    tree["gateways"]["cg"]["incoming"] = []  # some saved trees omit them; the flows tell
    assert validate_tree(tree).root.nodes["pg"].converge_id == "cg"


def test_nested_parallel_gateways_each_get_their_own_converge_and_run():
    tree = _nested_parallel().build()
    compiled = validate_tree(tree)
    assert compiled.root.nodes["pg1"].converge_id == "cg1"
    assert compiled.root.nodes["pg2"].converge_id == "cg2"
    assert tree["gateways"]["pg1"]["converge_gateway_id"] == "cg1"
    assert tree["gateways"]["pg2"]["converge_gateway_id"] == "cg2"
    sim = Simulator(tree).start()
    assert sim.run.state == s.FINISHED and sim.signals == [s.FINISHED]
    assert {key: rec.state for key, rec in sim.rows.items()} == dict.fromkeys(
        ["start", "pg1", "pg2", "a", "b", "cg2", "c", "d", "cg1", "end"], s.FINISHED)
    assert sim.rows["cg1"].loop == 1 and sim.rows["cg2"].loop == 1  # each join passed once


def test_an_explicit_converge_gateway_id_that_is_right_is_kept():
    tree = _nested_parallel().build()
    tree["gateways"]["pg1"]["converge_gateway_id"] = "cg1"
    assert validate_tree(tree).root.nodes["pg1"].converge_id == "cg1"


def test_an_explicit_converge_gateway_id_must_be_where_the_branches_meet():
    tree = _nested_parallel().build()
    tree["gateways"]["pg1"]["converge_gateway_id"] = "cg2"
    assert _only_error(tree) == ("ParallelGateway pg1 (pg1): converge_gateway_id cg2 is not where its "
                                 "branches meet (cg1)")
    for wrong in ("a", "ghost"):
        tree["gateways"]["pg1"]["converge_gateway_id"] = wrong
        assert _only_error(tree) == f"ParallelGateway pg1 (pg1): converge_gateway_id {wrong} is not a converge gateway"


def test_two_forks_cannot_share_one_converge():
    # pg1 -> a -> cg and pg1 -> pg2 -> (b, c) -> cg: the nearest meeting point of both forks is cg.
    b = TreeBuilder()
    b.gw("pg1", "ParallelGateway")
    b.gw("pg2", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    for node_id in "abc":
        b.act(node_id)
    b.chain(b.start_id, "pg1", "a", "cg", b.end_id)
    b.chain("pg1", "pg2", "b", "cg")
    b.chain("pg2", "c", "cg")
    assert _only_error(b.build()) == "ConvergeGateway cg: collects branches of two parallel gateways (pg1 and pg2)"


def test_a_converge_needs_an_incoming_flow_per_branch():
    # Both branches go through x before the converge: one flow reaches cg for two branches.
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    for node_id in "abx":
        b.act(node_id)
    b.chain(b.start_id, "pg", "a", "x", "cg", b.end_id)
    b.chain("pg", "b", "x")
    assert _invalid(b.build()) == (
        "ConvergeGateway cg: has fewer incoming flows than ParallelGateway pg (pg) has branches; "
        "ServiceActivity x (x): reachable from two parallel branches of ParallelGateway pg (pg)")


def test_a_branch_may_not_lead_back_to_its_fork():
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.gw("g", "ExclusiveGateway")
    b.act("a")
    b.act("b")
    b.chain(b.start_id, "pg", "a", "cg", b.end_id)
    b.chain("pg", "b", "g")
    b.flow("g", "pg", condition="${_loop} < 2")
    b.flow("g", "cg", default=True)
    assert _only_error(b.build()) == "ParallelGateway pg (pg): a branch leads back to its own parallel gateway"


def test_a_branch_may_not_reach_the_end_past_its_converge():
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.gw("g", "ExclusiveGateway")
    for node_id in "abc":
        b.act(node_id)
    b.chain(b.start_id, "pg", "a", "cg", b.end_id)
    b.chain("pg", "b", "cg")
    b.chain("pg", "c", "g")
    b.flow("g", "cg", condition="True")
    b.flow("g", b.end_id, condition="False")
    assert _only_error(b.build()) == (
        "ParallelGateway pg (pg): a branch reaches the end event without passing its converge gateway")


def test_branches_sharing_a_node_are_named():
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
    assert _only_error(b.build()) == (
        "ServiceActivity shared (shared): reachable from two parallel branches of ParallelGateway pg (pg)")


# --- gateways: conditions on their own flows, branch counts ------------------------------------


@pytest.mark.parametrize("kind", ["ExclusiveGateway", "ConditionalParallelGateway"])
def test_a_condition_must_be_on_one_of_the_gateways_outgoing_flows(kind):
    b = TreeBuilder()
    b.gw("g", kind)
    b.gw("cg", "ConvergeGateway")
    b.act("a")
    b.act("b")
    b.chain(b.start_id, "g")
    b.flow("g", "a", condition="1 == 1")
    b.flow("g", "b", condition="1 == 2", default=True)
    b.chain("a", "cg")
    b.chain("b", "cg")
    b.chain("cg", b.end_id)
    tree = b.build()
    validate_tree(copy.deepcopy(tree))
    into_a = tree["gateways"]["g"]["incoming"][0]  # a flow of the tree, but not one leaving g
    tree["gateways"]["g"]["conditions"][into_a] = {"evaluate": "1 == 1"}
    assert _only_error(tree) == f"{kind} g (g): condition on flow {into_a} which is not one of its outgoing flows"


def test_a_gateway_with_one_branch_is_valid_and_runs():
    for kind in ("ParallelGateway", "ExclusiveGateway"):
        b = TreeBuilder()
        b.gw("g", kind)
        b.gw("cg", "ConvergeGateway")
        b.act("a")
        b.chain(b.start_id, "g")
        b.flow("g", "a", condition="True" if kind == "ExclusiveGateway" else None)
        b.chain("a", "cg", b.end_id)
        sim = Simulator(b.build()).start()
        assert sim.run.state == s.FINISHED, kind
        assert sim.state("a") == s.FINISHED


def test_a_gateway_needs_one_to_a_thousand_branches():
    def exclusive_with(branches: int) -> dict:
        b = TreeBuilder()
        b.gw("g", "ExclusiveGateway")
        b.chain(b.start_id, "g")
        for i in range(branches):
            b.flow("g", b.end_id, condition=f"{i} == 0")
        return b.build()

    validate_tree(exclusive_with(MAX_BRANCHES))
    assert _only_error(exclusive_with(MAX_BRANCHES + 1)) == (
        f"ExclusiveGateway g (g): needs 1 to {MAX_BRANCHES} outgoing flows, has {MAX_BRANCHES + 1}")
    b = TreeBuilder()
    b.gw("x", "ExclusiveGateway")
    b.gw("g", "ParallelGateway")
    b.act("a")
    b.chain(b.start_id, "x")
    b.flow("x", "a", condition="True")
    b.flow("x", "g", condition="False")
    b.chain("a", b.end_id)
    assert _only_error(b.build()) == f"ParallelGateway g (g): needs 1 to {MAX_BRANCHES} outgoing flows, has 0"


def test_only_fork_gateways_are_given_a_converge_gateway_id():
    tree = exclusive("${x} > 1", "${x} <= 1")
    compiled = validate_tree(tree)
    assert "converge_gateway_id" not in tree["gateways"]["g"] and "converge_gateway_id" not in tree["gateways"]["c"]
    assert missing_converge_ids(tree, compiled) is False


def test_a_fork_filed_among_the_activities_is_validated_without_writing_into_it():
    tree = parallel(2)
    tree["activities"]["pg"] = tree["gateways"].pop("pg")  # an editor's odd placement; it still compiles
    compiled = validate_tree(tree)
    assert compiled.root.nodes["pg"].converge_id == "cg"
    assert "converge_gateway_id" not in tree["activities"]["pg"]
    assert missing_converge_ids(tree, compiled) is False


def test_no_flow_may_lead_to_the_start_event():
    b = TreeBuilder()
    b.gw("g", "ExclusiveGateway")
    b.act("a")
    b.chain(b.start_id, "g")
    b.flow("g", "a", condition="True")
    b.flow("g", b.start_id, condition="False")
    b.chain("a", b.end_id)
    assert _only_error(b.build()) == "EmptyStartEvent start: a start event cannot be the target of a flow"
