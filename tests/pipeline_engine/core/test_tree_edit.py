"""Tree editing: exclusion, parallel trimming, constant pruning and merge, subprocess unfolding,
id regeneration, and the converge finder tree editing and validation share."""
from __future__ import annotations

import copy
import re

import pytest

from pipeline_engine.core import tree_edit
from pipeline_engine.core.tree import as_list
from pipeline_engine.core.tree_edit import prepare_task_tree, regenerate_ids, unfold_subprocesses
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import TreeInvalid
from tests.pipeline_engine.trees import TreeBuilder

ID = re.compile(r"^(node|line)[0-9a-f]{28}$")


def check_links(tree: dict) -> None:
    """Every flow's ends exist and list the flow; every node's flows exist; the layout follows."""
    nodes = tree_edit.all_nodes(tree)
    for fid, flow in tree["flows"].items():
        assert flow["id"] == fid
        assert fid in as_list(nodes[flow["source"]]["outgoing"])
        assert fid in as_list(nodes[flow["target"]]["incoming"])
    for node in nodes.values():
        for fid in as_list(node.get("incoming")) + as_list(node.get("outgoing")):
            assert fid in tree["flows"], (node["id"], fid)
    assert {ln["id"] for ln in tree["line"]} == set(tree["flows"])
    assert {loc["id"] for loc in tree["location"]} == set(nodes)


def parallel_with_optional() -> dict:
    """start -> first -> PG -> (opt_a | opt_b -> keep_b) -> CG -> last -> end."""
    b = TreeBuilder()
    b.act("first", "sleep_timer", {"bk_timing": "${t_first}"})
    b.act("opt_a", "sleep_timer", {"bk_timing": "${t_a}"}, optional=True)
    b.act("opt_b", "sleep_timer", {"bk_timing": "${t_b}"}, optional=True)
    b.act("keep_b", "sleep_timer", {"bk_timing": "${t_keep}"})
    b.act("last", "sleep_timer", {"bk_timing": "0"}, optional=True)
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, "first", "pg", "opt_a", "cg", "last", b.end_id)
    b.chain("pg", "opt_b", "keep_b", "cg")
    for key in ("t_first", "t_a", "t_b"):
        b.const(f"${{{key}}}", "0")
    b.const("${t_keep}", "${t_base}")
    b.const("${t_base}", "0", show_type="hide")
    b.const("${unused}", "x")
    return b.build()


def subprocess_node(node_id: str, template_id: int, constants: dict | None = None) -> dict:
    return {"id": node_id, "type": "SubProcess", "name": node_id, "template_id": template_id, "incoming": [],
            "outgoing": [], "constants": constants or {}}


# --------------------------------------------------------------------------- exclusion and pruning
def test_prune_without_exclusion_keeps_referenced_and_transitive():
    tree = prepare_task_tree(parallel_with_optional())
    assert set(tree["constants"]) == {"${t_first}", "${t_a}", "${t_b}", "${t_keep}", "${t_base}"}
    assert sorted(c["index"] for c in tree["constants"].values()) == [0, 1, 2, 3, 4]
    check_links(tree)


def test_exclusion_reconnects_flows_and_drops_empty_branch():
    source = parallel_with_optional()
    tree = prepare_task_tree(source, exclude_task_nodes_id=["opt_a"], constants={"${t_b}": "5", "${nope}": 1})
    assert "opt_a" not in tree["activities"]
    pg, cg = tree["gateways"]["pg"], tree["gateways"]["cg"]
    # the branch that went straight to the converge is gone from both gateways
    assert len(as_list(pg["outgoing"])) == 1 and len(as_list(cg["incoming"])) == 1
    assert "${t_a}" not in tree["constants"] and "${nope}" not in tree["constants"]
    assert tree["constants"]["${t_b}"]["value"] == "5"
    check_links(tree)
    assert source["activities"]["opt_a"]  # the input is never mutated


def test_all_branches_empty_removes_the_gateway_pair():
    b = TreeBuilder()
    b.act("a", "sleep_timer", optional=True)
    b.act("b", "sleep_timer", optional=True)
    b.act("z", "sleep_timer")
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, "pg", "a", "cg", "z", b.end_id)
    b.chain("pg", "b", "cg")
    tree = prepare_task_tree(b.build(), exclude_task_nodes_id=["a", "b"])
    assert tree["gateways"] == {}
    start_flow = tree["flows"][tree["start_event"]["outgoing"]]
    assert start_flow["target"] == "z"
    check_links(tree)


def test_exclusion_of_last_node_reaches_end_event():
    tree = prepare_task_tree(parallel_with_optional(), exclude_task_nodes_id=["last"])
    end_in = as_list(tree["end_event"]["incoming"])
    assert len(end_in) == 1 and tree["flows"][end_in[0]]["source"] == "cg"
    check_links(tree)


@pytest.mark.parametrize(("node", "message"), [
    ("ghost", "task node[id=ghost] is not in template pipeline tree"),
    ("first", "task node[id=first] is not optional"),
])
def test_exclusion_refusals(node, message):
    with pytest.raises(TreeInvalid) as exc:
        prepare_task_tree(parallel_with_optional(), exclude_task_nodes_id=[node])
    assert exc.value.message == message


@pytest.mark.parametrize("constants", [[], ["${t_b}"], "x", 3])
def test_constants_must_be_an_object(constants):
    with pytest.raises(TreeInvalid, match="^constants must be an object$"):
        prepare_task_tree(parallel_with_optional(), constants=constants)
    with pytest.raises(TreeInvalid, match="^constants must be an object$"):
        tree_edit.merge_constants(parallel_with_optional(), constants)


def test_merge_constants_sets_only_defined_keys_in_place():
    tree = parallel_with_optional()
    tree_edit.merge_constants(tree, {"${t_a}": "7", "${nope}": 1})
    assert tree["constants"]["${t_a}"]["value"] == "7" and "${nope}" not in tree["constants"]
    tree_edit.merge_constants(tree, None)  # nothing given, nothing changed
    assert tree["constants"]["${t_a}"]["value"] == "7"


def test_component_outputs_kept_unless_source_excluded_and_outputs_filtered():
    b = TreeBuilder()
    b.act("a", "sleep_timer", optional=True)
    b.act("b", "sleep_timer")
    b.chain(b.start_id, "a", "b", b.end_id)
    b.const("${out_a}", "", source_type="component_outputs", source_info={"a": ["_result"]})
    b.const("${out_b}", "", source_type="component_outputs", source_info={"b": ["_result"]})
    b.const("${lonely}", "1")
    b.outputs = ["${out_a}", "${out_b}", "${lonely}"]
    kept = prepare_task_tree(b.build())
    assert set(kept["constants"]) == {"${out_a}", "${out_b}"}
    assert kept["outputs"] == ["${out_a}", "${out_b}"]
    excluded = prepare_task_tree(b.build(), exclude_task_nodes_id=["a"])
    assert set(excluded["constants"]) == {"${out_b}"} and excluded["outputs"] == ["${out_b}"]
    assert excluded["constants"]["${out_b}"]["index"] == 0


def test_gateway_conditions_and_subprocess_constants_keep_references():
    b = TreeBuilder()
    b.act("a", "sleep_timer")
    b.act("b", "sleep_timer")
    b.nodes["sub"] = subprocess_node("sub", 1, {
        "${x}": {"key": "${x}", "value": "${from_parent}", "show_type": "show"},
        "${y}": {"key": "${y}", "value": "${hidden_ref}", "show_type": "hide"}})
    b.gw("eg", "ExclusiveGateway")
    b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, "sub", "eg")
    b.flow("eg", "a", condition="${cond} == 1")
    b.flow("eg", "b", condition="${cond} != 1")
    b.chain("a", "cg", b.end_id)
    b.chain("b", "cg")
    for key in ("${cond}", "${from_parent}", "${hidden_ref}"):
        b.const(key, "1")
    out = prepare_task_tree(b.build())
    assert set(out["constants"]) == {"${cond}", "${from_parent}"}


def test_references_are_the_names_expressions_read():
    """One reference finder (expressions.references): attribute names, quoted text and the
    functions a fragment calls are not variables; an unparsable fragment (a shell's ${a:-b})
    refers to nothing, as it renders literally."""
    assert tree_edit.referenced_keys("${a.upper()} ${'b'} ${int(c)} ${d:-e}") == {"${a}", "${c}"}
    assert tree_edit.referenced_keys({"k": ["${x}", {"y": "${y + 1}"}]}) == {"${x}", "${y}"}
    b = TreeBuilder()
    b.act("n", "noop", {"v": "${word.upper()}"})
    b.chain(b.start_id, "n", b.end_id)
    b.const("${word}", "w")
    b.const("${upper}", "not referenced: a method name")
    assert set(prepare_task_tree(b.build())["constants"]) == {"${word}"}


# --------------------------------------------------------------------------- the converge finder
def _exclusive_in_every_branch() -> dict:
    """pg -> (eg1 -> x1 | y1) and (eg2 -> x2 | y2), every exclusive branch straight into cg: the
    exclusive gateways have no converge of their own, and every branch of pg meets at cg."""
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, "pg")
    for i in (1, 2):
        b.gw(f"eg{i}", "ExclusiveGateway")
        b.act(f"x{i}", "noop")
        b.act(f"y{i}", "noop")
        b.chain("pg", f"eg{i}")
        b.flow(f"eg{i}", f"x{i}", condition="1 == 1")
        b.flow(f"eg{i}", f"y{i}", default=True)
        b.chain(f"x{i}", "cg")
        b.chain(f"y{i}", "cg")
    b.chain("cg", b.end_id)
    return b.build()


def test_converge_found_when_every_branch_holds_an_exclusive_gateway():
    """The disputed case. tasks_app.tree_prep walked the first flow of each branch depth-first,
    jumping over nested gateways to "their" converge: an exclusive gateway whose branches go
    straight into the parallel converge took cg as its own, the walk went on past cg to the end
    event and gave up, so no branch found cg (None). Validation walks all branches breadth-first
    and finds cg; the tree is valid and runs. Both now use that one finder."""
    tree = _exclusive_in_every_branch()
    assert tree_edit.find_converge(tree, "pg") == "cg"
    assert validate_tree(copy.deepcopy(tree)).root.nodes["pg"].converge_id == "cg"


def test_declared_converge_is_taken_as_it_is():
    tree = _exclusive_in_every_branch()
    tree["gateways"]["pg"]["converge_gateway_id"] = "eg1"  # wrong, but declared: not recomputed
    assert tree_edit.find_converge(tree, "pg") == "eg1"
    tree["gateways"]["pg"]["converge_gateway_id"] = "ghost"  # not a gateway of the tree: computed
    assert tree_edit.find_converge(tree, "pg") == "cg"


def test_no_converge_when_branches_never_meet():
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.act("a", "noop")
    b.act("b", "noop")
    b.chain(b.start_id, "pg", "a", b.end_id)
    b.chain("pg", "b", b.end_id)
    assert tree_edit.find_converge(b.build(), "pg") is None


def test_empty_branch_trimmed_when_every_other_branch_holds_an_exclusive_gateway():
    tree = _exclusive_in_every_branch()
    b_flow = "f_direct"
    tree["flows"][b_flow] = {"id": b_flow, "source": "pg", "target": "opt", "is_default": False}
    tree["activities"]["opt"] = {"id": "opt", "type": "ServiceActivity", "name": "opt", "optional": True,
                                 "incoming": b_flow, "outgoing": "f_opt_cg",
                                 "component": {"code": "noop", "data": {}}}
    tree["flows"]["f_opt_cg"] = {"id": "f_opt_cg", "source": "opt", "target": "cg", "is_default": False}
    tree["gateways"]["pg"]["outgoing"].append(b_flow)
    tree["gateways"]["cg"]["incoming"].append("f_opt_cg")
    tree["line"] += [{"id": f, "source": {"id": ""}, "target": {"id": ""}} for f in (b_flow, "f_opt_cg")]
    tree["location"].append({"id": "opt"})
    out = prepare_task_tree(tree, exclude_task_nodes_id=["opt"])
    assert len(out["gateways"]["pg"]["outgoing"]) == 2 and "opt" not in out["activities"]
    check_links(out)
    validate_tree(out)


# --------------------------------------------------------------------------- subprocesses
def _child(value: str = "c") -> dict:
    b = TreeBuilder()
    b.act("inner", "noop", {"v": "${cv}"})
    b.chain(b.start_id, "inner", b.end_id)
    b.const("${cv}", value)
    tree = b.build()
    tree["form"] = {"ignored": True}
    return tree


def test_unfold_puts_each_template_tree_in_place_with_the_parents_values():
    templates = {1: _child("from child"), 2: _child()}
    asked: list[int] = []

    def resolve(node: dict) -> tuple[int, dict]:
        asked.append(node["template_id"])
        return node["template_id"], copy.deepcopy(templates[node["template_id"]])

    b = TreeBuilder()
    b.nodes["s1"] = subprocess_node("s1", 1, {"${cv}": {"key": "${cv}", "value": "given"}})
    b.nodes["s2"] = subprocess_node("s2", 2, {"${extra}": {"key": "${extra}", "value": "e"}})
    b.nodes["snap"] = {**subprocess_node("snap", 99), "pipeline": _child("kept")}  # a snapshot: left alone
    b.chain(b.start_id, "s1", "s2", "snap", b.end_id)
    tree = b.build()
    assert unfold_subprocesses(tree, resolve) is tree
    assert asked == [1, 2]
    s1, s2 = tree["activities"]["s1"]["pipeline"], tree["activities"]["s2"]["pipeline"]
    assert s1["constants"]["${cv}"]["value"] == "given" and s1["constants"]["${cv}"]["name"] == "${cv}"
    assert s2["constants"]["${cv}"]["value"] == "c" and s2["constants"]["${extra}"]["value"] == "e"
    assert "form" not in s1 and "form" in tree["activities"]["snap"]["pipeline"]
    assert tree["activities"]["snap"]["pipeline"]["constants"]["${cv}"]["value"] == "kept"
    validate_tree(tree)


def test_unfold_recurses_and_refuses_cycles_and_depth():
    def nesting(target: int) -> dict:
        b = TreeBuilder()
        b.nodes["sub"] = subprocess_node("sub", target)
        b.chain(b.start_id, "sub", b.end_id)
        return b.build()

    chain = {n: nesting(n + 1) for n in range(1, 20)}

    def resolve(node: dict) -> tuple[int, dict]:
        n = node["template_id"]
        return n, copy.deepcopy(chain[n]) if n < 5 else _child()

    tree = unfold_subprocesses(nesting(1), resolve)
    depth, level = 0, tree
    while "sub" in level.get("activities", {}):
        level, depth = level["activities"]["sub"]["pipeline"], depth + 1
    assert depth == 5 and "inner" in level["activities"]

    with pytest.raises(TreeInvalid, match=r"node\[id=sub\] makes template\[id=3\] include itself"):
        unfold_subprocesses(nesting(1), lambda node: (3, nesting(3)))
    with pytest.raises(TreeInvalid, match=r"template\[id=7\] include itself"):
        unfold_subprocesses(nesting(7), lambda node: (node["template_id"], nesting(7)), ancestors=(7,))
    deep = {n: nesting(n + 1) for n in range(1, 30)}
    with pytest.raises(TreeInvalid, match=r"nests subprocesses 9 levels deep at subprocess node\[id=sub\], more than 8"):
        unfold_subprocesses(nesting(1), lambda node: (node["template_id"], copy.deepcopy(deep[node["template_id"]])))


def test_unfold_lets_the_resolvers_own_error_through():
    class Missing(Exception):
        pass

    def resolve(node: dict) -> tuple[int, dict]:
        raise Missing(node["id"])

    b = TreeBuilder()
    b.nodes["sub"] = subprocess_node("sub", 5)
    b.chain(b.start_id, "sub", b.end_id)
    with pytest.raises(Missing, match="sub"):
        unfold_subprocesses(b.build(), resolve)


# --------------------------------------------------------------------------- ids and reads
def test_regenerate_ids_rewrites_every_reference():
    b = TreeBuilder()
    b.act("a", "sleep_timer")
    b.act("b", "sleep_timer")
    b.gw("eg", "ExclusiveGateway")
    b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, "eg")
    b.flow("eg", "a", condition="1 == 1")
    b.flow("eg", "b", condition="0", default=True)
    b.chain("a", "cg", b.end_id)
    b.chain("b", "cg")
    b.const("${o}", "", source_type="component_outputs", source_info={"a": ["_result"]})
    tree = b.build()
    tree["gateways"]["eg"]["converge_gateway_id"] = "cg"
    new = regenerate_ids(tree)
    nodes = tree_edit.all_nodes(new)
    assert all(ID.match(i) and len(i) == 32 for i in list(nodes) + list(new["flows"]))
    assert not set(nodes) & set(tree_edit.all_nodes(tree))
    eg = next(g for g in new["gateways"].values() if g["type"] == "ExclusiveGateway")
    assert set(eg["conditions"]) == set(eg["outgoing"]) and eg["default_condition"]["flow_id"] in eg["outgoing"]
    assert eg["converge_gateway_id"] in new["gateways"]
    (src,) = new["constants"]["${o}"]["source_info"]
    assert new["activities"][src]["name"] == "a"
    check_links(new)
    assert {ln["source"]["id"] for ln in new["line"]} <= set(nodes)


def test_regenerate_ids_gives_each_subprocess_copy_its_own_ids():
    child = _child()
    b = TreeBuilder()
    for sid in ("s1", "s2"):
        b.nodes[sid] = {**subprocess_node(sid, 1), "pipeline": child}  # one object, shared
    b.chain(b.start_id, "s1", "s2", b.end_id)
    new = regenerate_ids(b.build())
    subs = list(new["activities"].values())
    assert [s["pipeline"]["id"] for s in subs] == [s["id"] for s in subs]
    ids1, ids2 = (set(tree_edit.all_nodes(s["pipeline"])) for s in subs)
    assert ids1 and not ids1 & ids2
    found, path = tree_edit.find_node(new, next(iter(ids2)))
    assert found is not None and path == [subs[1]["id"]]


def test_find_node_and_node_names_look_into_subprocesses():
    b = TreeBuilder()
    b.act("top", "noop", name="Top")
    b.nodes["sp"] = {**subprocess_node("sp", 1), "pipeline": _child()}
    b.chain(b.start_id, "top", "sp", b.end_id)
    tree = b.build()
    assert tree_edit.find_node(tree, "top") == (tree["activities"]["top"], [])
    assert tree_edit.find_node(tree, "inner") == (tree["activities"]["sp"]["pipeline"]["activities"]["inner"], ["sp"])
    assert tree_edit.find_node(tree, "inner", ["sp"])[1] == ["sp"]
    assert tree_edit.find_node(tree, "inner", ["top"]) == (None, [])  # not a subprocess
    assert tree_edit.find_node(tree, "ghost") == (None, [])
    names = tree_edit.node_names(tree)
    assert names["top"] == "Top" and names["inner"] == "inner" and names["sp"] == "sp"


# --------------------------------------------------------------------------- details of each edit
def test_exclusion_moves_the_layout_lines_with_their_flows():
    tree = prepare_task_tree(parallel_with_optional(), exclude_task_nodes_id=["opt_b", "last"])
    lines = {ln["id"]: ln for ln in tree["line"]}
    for fid, flow in tree["flows"].items():
        assert lines[fid]["source"]["id"] == flow["source"] and lines[fid]["target"]["id"] == flow["target"]
    assert tree["flows"][as_list(tree["end_event"]["incoming"])[0]]["source"] == "cg"


def test_exclusion_keeps_the_form_of_the_successors_incoming():
    b = TreeBuilder()
    b.act("a", "noop", optional=True)
    b.act("z", "noop")
    b.chain(b.start_id, "a", "z", b.end_id)
    tree = b.build()
    tree["activities"]["z"]["incoming"] = tree["activities"]["z"]["incoming"][0]  # one id, written as text
    out = prepare_task_tree(tree, exclude_task_nodes_id=["a"])
    assert out["activities"]["z"]["incoming"] == out["start_event"]["outgoing"]
    assert isinstance(out["activities"]["z"]["incoming"], str)
    out = prepare_task_tree(b.build(), exclude_task_nodes_id=["a"])  # a list stays a list
    assert out["activities"]["z"]["incoming"] == [out["start_event"]["outgoing"]]
    check_links(out)
    validate_tree(out)


def test_a_node_with_several_outgoing_flows_cannot_be_excluded():
    tree = parallel_with_optional()
    tree["activities"]["opt_a"]["outgoing"] = [tree["activities"]["opt_a"]["outgoing"], "extra"]
    with pytest.raises(TreeInvalid) as exc:
        prepare_task_tree(tree, exclude_task_nodes_id=["opt_a"])
    assert exc.value.message == "task node[id=opt_a] cannot be excluded: it has 2 outgoing flows"


def test_a_node_named_twice_for_exclusion_is_excluded_once():
    once = prepare_task_tree(parallel_with_optional(), exclude_task_nodes_id=["opt_a"])
    twice = prepare_task_tree(parallel_with_optional(), exclude_task_nodes_id=["opt_a", "opt_a"])
    assert twice == once


def test_a_tree_without_layout_or_sections_can_be_edited():
    tree = parallel_with_optional()
    del tree["line"], tree["location"]
    out = prepare_task_tree(tree, exclude_task_nodes_id=["opt_a", "opt_b", "last"])
    assert "line" not in out and "location" not in out
    validate_tree(out)
    b = TreeBuilder()
    b.chain(b.start_id, b.end_id)
    bare = {k: v for k, v in b.build().items() if k in ("start_event", "end_event", "flows")}
    out = prepare_task_tree(bare)
    assert (out["activities"], out["gateways"], out["constants"], out["outputs"]) == ({}, {}, {}, [])


def test_constants_are_reindexed_in_their_order_and_a_missing_or_bad_index_counts_as_zero():
    b = TreeBuilder()
    b.act("a", "noop", {"v": "${c} ${b} ${a} ${d}"})
    b.chain(b.start_id, "a", b.end_id)
    for key, index in (("${a}", 1), ("${b}", "junk"), ("${c}", 3), ("${d}", None)):
        b.const(key, "1")
        b.constants[key]["index"] = index
    del b.constants["${d}"]["index"]  # no index: as 0
    out = prepare_task_tree(b.build())
    assert list(out["constants"]) == ["${b}", "${d}", "${a}", "${c}"]
    assert [c["index"] for c in out["constants"].values()] == [0, 1, 2, 3]


def test_component_outputs_without_a_source_are_kept_and_an_excluded_source_is_dropped():
    b = TreeBuilder()
    b.act("a", "noop", optional=True)
    b.act("b", "noop")
    b.chain(b.start_id, "a", "b", b.end_id)
    b.const("${free}", "", source_type="component_outputs", source_info={})
    b.const("${both}", "", source_type="component_outputs", source_info={"a": ["x"], "b": ["y"]})
    tree = b.build()
    tree["activities"]["b"]["component"]["data"]["v"] = {"hook": False, "value": "${odd}"}
    tree["constants"]["${odd}"] = {"key": "${odd}", "value": "1", "source_type": "custom", "source_info": None}
    out = prepare_task_tree(tree, exclude_task_nodes_id=["a"])
    assert set(out["constants"]) == {"${free}", "${both}", "${odd}"}
    assert out["constants"]["${both}"]["source_info"] == {"b": ["y"]}
    assert out["constants"]["${odd}"]["source_info"] is None  # left as written


def test_regenerate_ids_renames_the_layout_the_legacy_inputs_and_the_tree_id():
    b = TreeBuilder()
    b.act("a", "noop")
    b.act("b", "noop")
    b.chain(b.start_id, "a", "b", b.end_id)
    tree = b.build()
    tree["id"] = "old_root"
    tree["activities"]["b"]["data"] = {"inputs": {"k": {"source_act": "a", "value": 1}, "j": {"value": 2}}}
    tree["line"].append("not a line")
    new = regenerate_ids(tree)
    assert ID.match(new["id"]) and new["id"] != "old_root"
    by_name = {n["name"]: i for i, n in new["activities"].items()}
    b_new = new["activities"][by_name["b"]]
    assert b_new["data"]["inputs"]["k"]["source_act"] == by_name["a"]
    assert b_new["data"]["inputs"]["j"] == {"value": 2}
    nodes = tree_edit.all_nodes(new)
    assert {loc["id"] for loc in new["location"]} == set(nodes)
    lines = [ln for ln in new["line"] if isinstance(ln, dict)]
    assert {ln["id"] for ln in lines} == set(new["flows"])
    for ln in lines:
        flow = new["flows"][ln["id"]]
        assert (ln["source"]["id"], ln["target"]["id"]) == (flow["source"], flow["target"])
    assert "not a line" in new["line"]
    assert "id" not in regenerate_ids(b.build())  # a tree without an id gets none


def test_find_node_with_a_path_that_does_not_hold_it():
    b = TreeBuilder()
    b.nodes["sp"] = {**subprocess_node("sp", 1), "pipeline": _child()}
    b.chain(b.start_id, "sp", b.end_id)
    tree = b.build()
    assert tree_edit.find_node(tree, "ghost", ["sp"]) == (None, [])
    assert tree_edit.find_node(tree, "inner", ["nope"]) == (None, [])
    assert tree_edit.find_node(tree, "sp", []) == (tree["activities"]["sp"], [])


def _two_parallel_blocks(kind: str = "ParallelGateway") -> dict:
    """start -> pg1 -> (o1 | k1) -> cg1 -> pg2 -> (o2 | k2) -> cg2 -> end; o1, o2 optional."""
    b = TreeBuilder()
    previous = b.start_id
    for i in (1, 2):
        b.gw(f"pg{i}", kind)
        b.gw(f"cg{i}", "ConvergeGateway")
        b.act(f"o{i}", "noop", optional=True)
        b.act(f"k{i}", "noop")
        b.chain(previous, f"pg{i}")
        for node_id in (f"o{i}", f"k{i}"):
            if kind == "ParallelGateway":
                b.chain(f"pg{i}", node_id, f"cg{i}")
            else:
                b.flow(f"pg{i}", node_id, condition="1 == 1")
                b.chain(node_id, f"cg{i}")
        previous = f"cg{i}"
    b.chain(previous, b.end_id)
    return b.build()


def test_every_parallel_block_loses_its_empty_branches():
    out = prepare_task_tree(_two_parallel_blocks(), exclude_task_nodes_id=["o1", "o2"])
    for i in (1, 2):
        (branch,) = as_list(out["gateways"][f"pg{i}"]["outgoing"])
        assert out["flows"][branch]["target"] == f"k{i}"
        assert len(as_list(out["gateways"][f"cg{i}"]["incoming"])) == 1
    check_links(out)
    validate_tree(out)


def test_a_conditional_parallel_gateway_keeps_its_flows():
    out = prepare_task_tree(_two_parallel_blocks("ConditionalParallelGateway"), exclude_task_nodes_id=["o1"])
    gateway = out["gateways"]["pg1"]
    assert len(gateway["outgoing"]) == 2 and set(gateway["conditions"]) == set(gateway["outgoing"])
    assert "cg1" in [out["flows"][f]["target"] for f in gateway["outgoing"]]
    check_links(out)
    validate_tree(out)


def test_a_parallel_gateway_whose_branches_never_meet_is_left_alone():
    b = TreeBuilder()
    b.gw("pg", "ParallelGateway")
    b.act("a", "noop", optional=True)
    b.act("b", "noop")
    b.act("z", "noop")
    b.chain(b.start_id, "pg", "a", "z", b.end_id)
    b.chain("pg", "b", b.end_id)
    out = prepare_task_tree(b.build(), exclude_task_nodes_id=["a"])
    assert len(out["gateways"]["pg"]["outgoing"]) == 2


def test_subprocess_constants_count_as_shown_unless_hidden_and_odd_entries_are_skipped():
    b = TreeBuilder()
    b.nodes["sub"] = subprocess_node("sub", 1, {
        "${x}": {"key": "${x}", "value": "${no_show_type}"},
        "${y}": "${not_an_object}"})
    b.gw("eg", "ExclusiveGateway")
    b.gw("cg", "ConvergeGateway")
    b.act("a", "noop")
    b.chain(b.start_id, "sub", "eg")
    b.flow("eg", "a", condition="${cond} == 1")
    b.flow("eg", "cg", default=True)
    b.chain("a", "cg", b.end_id)
    tree = b.build()
    tree["gateways"]["eg"]["conditions"]["odd"] = "${odd}"  # not an object: ignored
    for key in ("${no_show_type}", "${not_an_object}", "${cond}", "${odd}"):
        tree["constants"][key] = {"key": key, "value": "1", "source_type": "custom", "index": 0}
    assert set(prepare_task_tree(tree)["constants"]) == {"${no_show_type}", "${cond}"}


def test_unfold_gives_a_child_without_constants_the_parents_values_and_skips_odd_ones():
    child = _child()
    del child["constants"]
    b = TreeBuilder()
    b.nodes["s"] = subprocess_node("s", 1, {"${given}": {"key": "${given}", "value": "v"}, "${odd}": "text"})
    b.chain(b.start_id, "s", b.end_id)
    tree = unfold_subprocesses(b.build(), lambda node: (1, copy.deepcopy(child)))
    assert tree["activities"]["s"]["pipeline"]["constants"] == {"${given}": {"key": "${given}", "value": "v"}}


def test_node_names_of_unnamed_nodes_are_empty():
    b = TreeBuilder()
    b.act("a", "noop")
    b.chain(b.start_id, "a", b.end_id)
    tree = b.build()
    tree["activities"]["a"]["name"] = None
    assert tree_edit.node_names(tree) == {"start": "", "end": "", "a": ""}


@pytest.mark.parametrize(("levels", "refused"), [(8, False), (9, True)])
def test_unfold_allows_eight_levels_of_subprocesses(levels, refused):
    def nesting(target: int) -> dict:
        b = TreeBuilder()
        b.nodes["sub"] = subprocess_node("sub", target)
        b.chain(b.start_id, "sub", b.end_id)
        return b.build()

    def resolve(node: dict) -> tuple[int, dict]:
        n = node["template_id"]
        return n, nesting(n + 1) if n < levels else _child()

    if refused:
        # the expansion budget (core/expansion.py, SOPS_MAX_SUBPROCESS_DEPTH = 8) refuses it before any copy
        with pytest.raises(TreeInvalid, match=r"nests subprocesses 9 levels deep at subprocess node\[id=sub\], "
                                              r"more than 8 \(the limit is SOPS_MAX_SUBPROCESS_DEPTH\)"):
            unfold_subprocesses(nesting(1), resolve)
    else:
        unfold_subprocesses(nesting(1), resolve)


def test_regenerate_ids_keeps_references_to_ids_the_level_does_not_have():
    b = TreeBuilder()
    b.act("a", "noop")
    b.gw("pg", "ParallelGateway")
    b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, "pg", "a", "cg", b.end_id)
    b.const("${o}", "", source_type="component_outputs", source_info={"a": ["x"], "elsewhere": ["y"]})
    tree = b.build()
    tree["gateways"]["pg"]["converge_gateway_id"] = "not_here"
    tree["activities"]["a"]["incoming"].append("dangling_flow")
    new = regenerate_ids(tree)
    a_id = next(i for i, n in new["activities"].items() if n["name"] == "a")
    assert new["constants"]["${o}"]["source_info"] == {a_id: ["x"], "elsewhere": ["y"]}
    (pg,) = [g for g in new["gateways"].values() if g["type"] == "ParallelGateway"]
    assert pg["converge_gateway_id"] == "not_here"
    incoming = new["activities"][a_id]["incoming"]
    assert incoming[-1] == "dangling_flow" and ID.match(incoming[0])
