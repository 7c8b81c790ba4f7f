"""Tree preparation: exclusion, parallel trimming, constant pruning and merge, id regeneration."""
from __future__ import annotations

import re

import pytest

from sops_api.apigw.errors import BadRequest
from tasks_app import tree_prep
from tasks_app.tree_prep import as_list, prepare_tree, regenerate_ids

from . import trees

ID = re.compile(r"^(node|line)[0-9a-f]{28}$")


def check_links(tree: dict) -> None:
    """Every flow's ends exist and list the flow; every node's flows exist."""
    nodes = tree_prep.all_nodes(tree)
    for fid, flow in tree["flows"].items():
        assert flow["id"] == fid
        assert fid in as_list(nodes[flow["source"]]["outgoing"])
        assert fid in as_list(nodes[flow["target"]]["incoming"])
    for node in nodes.values():
        for fid in as_list(node.get("incoming")) + as_list(node.get("outgoing")):
            assert fid in tree["flows"], (node["id"], fid)
    assert {ln["id"] for ln in tree["line"]} == set(tree["flows"])
    assert {loc["id"] for loc in tree["location"]} == set(nodes)


def test_prune_without_exclusion_keeps_referenced_and_transitive():
    tree = prepare_tree(trees.parallel_with_optional(), exclude_task_nodes_id=[], constants={})
    assert set(tree["constants"]) == {"${t_first}", "${t_a}", "${t_b}", "${t_keep}", "${t_base}"}
    assert sorted(c["index"] for c in tree["constants"].values()) == [0, 1, 2, 3, 4]
    check_links(tree)


def test_exclusion_reconnects_flows_and_drops_empty_branch():
    source = trees.parallel_with_optional()
    tree = prepare_tree(source, exclude_task_nodes_id=["opt_a"], constants={"${t_b}": "5", "${nope}": 1})
    assert "opt_a" not in tree["activities"]
    pg, cg = tree["gateways"]["pg"], tree["gateways"]["cg"]
    # the branch that went straight to the converge is gone from both gateways
    assert len(as_list(pg["outgoing"])) == 1 and len(as_list(cg["incoming"])) == 1
    assert "${t_a}" not in tree["constants"] and "${nope}" not in tree["constants"]
    assert tree["constants"]["${t_b}"]["value"] == "5"
    check_links(tree)
    assert source["activities"]["opt_a"]  # the input is never mutated


def test_all_branches_empty_removes_the_gateway_pair():
    b = trees.TreeBuilder()
    b.act(trees.activity("a", "sleep_timer", optional=True)).act(trees.activity("b", "sleep_timer", optional=True))
    b.act(trees.activity("z", "sleep_timer"))
    b.gateway("pg", "ParallelGateway").gateway("cg", "ConvergeGateway")
    b.chain("start", "pg", "a", "cg", "z", "end").chain("pg", "b", "cg")
    tree = prepare_tree(b.build(), exclude_task_nodes_id=["a", "b"], constants={})
    assert tree["gateways"] == {}
    start_flow = tree["flows"][tree["start_event"]["outgoing"]]
    assert start_flow["target"] == "z"
    check_links(tree)


def test_exclusion_of_last_node_reaches_end_event():
    tree = prepare_tree(trees.parallel_with_optional(), exclude_task_nodes_id=["last"], constants={})
    end_in = as_list(tree["end_event"]["incoming"])
    assert len(end_in) == 1 and tree["flows"][end_in[0]]["source"] == "cg"
    check_links(tree)


@pytest.mark.parametrize(("node", "message"), [
    ("ghost", "task node[id=ghost] is not in template pipeline tree"),
    ("first", "task node[id=first] is not optional"),
])
def test_exclusion_refusals(node, message):
    with pytest.raises(BadRequest) as exc:
        prepare_tree(trees.parallel_with_optional(), exclude_task_nodes_id=[node], constants={})
    assert exc.value.message == message


def test_component_outputs_kept_unless_source_excluded_and_outputs_filtered():
    b = trees.TreeBuilder()
    b.act(trees.activity("a", "sleep_timer", optional=True)).act(trees.activity("b", "sleep_timer"))
    b.chain("start", "a", "b", "end")
    b.const("out_a", "", source_type="component_outputs", source_info={"a": ["_result"]})
    b.const("out_b", "", source_type="component_outputs", source_info={"b": ["_result"]})
    b.const("lonely", "1")
    b.outputs = ["${out_a}", "${out_b}", "${lonely}"]
    kept = prepare_tree(b.build(), exclude_task_nodes_id=[], constants={})
    assert set(kept["constants"]) == {"${out_a}", "${out_b}"}
    assert kept["outputs"] == ["${out_a}", "${out_b}"]
    excluded = prepare_tree(b.build(), exclude_task_nodes_id=["a"], constants={})
    assert set(excluded["constants"]) == {"${out_b}"} and excluded["outputs"] == ["${out_b}"]
    assert excluded["constants"]["${out_b}"]["index"] == 0


def test_gateway_conditions_and_subprocess_constants_keep_references():
    b = trees.TreeBuilder()
    b.act(trees.activity("a", "sleep_timer")).act(trees.activity("b", "sleep_timer"))
    b.act({"id": "sub", "type": "SubProcess", "name": "sub", "template_id": 1, "incoming": "", "outgoing": "",
           "constants": {"${x}": {"key": "${x}", "value": "${from_parent}", "show_type": "show"},
                         "${y}": {"key": "${y}", "value": "${hidden_ref}", "show_type": "hide"}}})
    b.gateway("eg", "ExclusiveGateway").gateway("cg", "ConvergeGateway")
    b.chain("start", "sub", "eg", "a", "cg", "end").chain("eg", "b", "cg")
    b.const("cond", "1").const("from_parent", "2").const("hidden_ref", "3")
    tree = b.build()
    flows = tree["gateways"]["eg"]["outgoing"]
    tree["gateways"]["eg"]["conditions"] = {flows[0]: {"evaluate": "${cond} == 1"},
                                            flows[1]: {"evaluate": "${cond} != 1"}}
    out = prepare_tree(tree, exclude_task_nodes_id=[], constants={})
    assert set(out["constants"]) == {"${cond}", "${from_parent}"}


def test_regenerate_ids_rewrites_every_reference():
    b = trees.TreeBuilder()
    b.act(trees.activity("a", "sleep_timer")).act(trees.activity("b", "sleep_timer"))
    b.gateway("eg", "ExclusiveGateway", converge_gateway_id="cg").gateway("cg", "ConvergeGateway")
    b.chain("start", "eg", "a", "cg", "end").chain("eg", "b", "cg")
    b.const("o", "", source_type="component_outputs", source_info={"a": ["_result"]})
    tree = b.build()
    out_flows = tree["gateways"]["eg"]["outgoing"]
    tree["gateways"]["eg"]["conditions"] = {out_flows[0]: {"evaluate": "1 == 1"}, out_flows[1]: {"evaluate": "0"}}
    tree["gateways"]["eg"]["default_condition"] = {"flow_id": out_flows[1]}
    new = regenerate_ids(tree)
    nodes = tree_prep.all_nodes(new)
    assert all(ID.match(i) and len(i) == 32 for i in list(nodes) + list(new["flows"]))
    assert not set(nodes) & set(tree_prep.all_nodes(tree))
    eg = next(g for g in new["gateways"].values() if g["type"] == "ExclusiveGateway")
    assert set(eg["conditions"]) == set(eg["outgoing"]) and eg["default_condition"]["flow_id"] in eg["outgoing"]
    assert eg["converge_gateway_id"] in new["gateways"]
    (src,) = new["constants"]["${o}"]["source_info"]
    assert new["activities"][src]["name"] == "a"
    check_links(new)
    assert {ln["source"]["id"] for ln in new["line"]} <= set(nodes)


def test_regenerate_ids_gives_each_subprocess_copy_its_own_ids():
    child = trees.timer_then_pause()
    b = trees.TreeBuilder()
    for sid in ("s1", "s2"):
        b.act({"id": sid, "type": "SubProcess", "name": sid, "incoming": "", "outgoing": "", "constants": {},
               "pipeline": child})
    b.chain("start", "s1", "s2", "end")
    new = regenerate_ids(b.build())
    subs = list(new["activities"].values())
    assert [s["pipeline"]["id"] for s in subs] == [s["id"] for s in subs]
    ids1, ids2 = (set(tree_prep.all_nodes(s["pipeline"])) for s in subs)
    assert ids1 and not ids1 & ids2
    found, path = tree_prep.find_node(new, next(iter(ids2)))
    assert found is not None and path == [subs[1]["id"]]
