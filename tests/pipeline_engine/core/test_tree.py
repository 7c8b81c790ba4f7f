"""The compiled tree (core/tree.py): which nodes may be entered again, and an activity's flags."""
from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipeline_engine.core.tree import compile_tree


def graph_tree(edges: list[tuple[int, int]], size: int, flags: dict[str, Any] | None = None) -> dict[str, Any]:
    """A web tree of `size` activities a0..a(size-1) between a start and an end, with a flow per
    edge (self-loops and repeats included): the start leads to a0, the last activity to the end."""
    activities = {f"a{i}": {"id": f"a{i}", "type": "ServiceActivity", "incoming": [], "outgoing": [],
                            "component": {"code": "noop", "data": {}}, **(flags or {})} for i in range(size)}
    flows: dict[str, Any] = {}

    def link(source: str, target: str, node_out: dict[str, Any], node_in: dict[str, Any] | None) -> None:
        fid = f"f{len(flows)}"
        flows[fid] = {"id": fid, "source": source, "target": target}
        node_out["outgoing"].append(fid) if isinstance(node_out["outgoing"], list) else None
        if node_in is not None:
            node_in["incoming"].append(fid)

    start = {"id": "s", "type": "EmptyStartEvent", "incoming": "", "outgoing": "f0"}
    end = {"id": "e", "type": "EmptyEndEvent", "incoming": [], "outgoing": ""}
    flows["f0"] = {"id": "f0", "source": "s", "target": "a0"}
    activities["a0"]["incoming"].append("f0")
    for a, b in edges:
        link(f"a{a}", f"a{b}", activities[f"a{a}"], activities[f"a{b}"])
    link(f"a{size - 1}", "e", activities[f"a{size - 1}"], None)
    end["incoming"] = [f"f{len(flows) - 1}"]
    return {"start_event": start, "end_event": end, "activities": activities, "gateways": {}, "flows": flows}


def on_a_cycle(edges: list[tuple[int, int]], size: int) -> set[str]:
    """The plain definition: a node is on a cycle when some path of one or more flows leads back to it."""
    out: dict[int, set[int]] = {i: set() for i in range(size)}
    for a, b in edges:
        out[a].add(b)
    result = set()
    for node in range(size):
        seen, todo = set(), list(out[node])
        while todo:
            nxt = todo.pop()
            if nxt == node:
                result.add(f"a{node}")
                break
            if nxt not in seen:
                seen.add(nxt)
                todo.extend(out[nxt])
    return result


graphs = st.integers(min_value=1, max_value=9).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=14)))


@given(graphs)
def test_exactly_the_nodes_on_a_cycle_may_be_entered_again(graph):
    size, edges = graph
    compiled = compile_tree(graph_tree(edges, size))
    reenterable = {node_id for node_id, node in compiled.root.nodes.items() if node.reenterable}
    assert reenterable == on_a_cycle(edges, size)


def test_a_chain_downstream_of_a_loop_is_not_reenterable_and_the_loop_is():
    # a0 -> a1 -> a2 -> a1 (a loop), a2 -> a3 -> a4: the peel stops at the loop, Tarjan finds it.
    tree = graph_tree([(0, 1), (1, 2), (2, 1), (2, 3), (3, 4)], 5)
    nodes = compile_tree(tree).root.nodes
    assert {n for n, node in nodes.items() if node.reenterable} == {"a1", "a2"}
    assert not nodes["s"].reenterable and not nodes["e"].reenterable


def test_an_activitys_flags_take_what_is_written_and_default_otherwise():
    defaults = compile_tree(graph_tree([], 1)).root.nodes["a0"]
    assert (defaults.error_ignorable, defaults.skippable, defaults.retryable, defaults.optional) == (
        False, True, True, False)
    assert defaults.timeout is None and defaults.auto_retry_times == 0
    written = compile_tree(graph_tree([], 1, {"error_ignorable": "true", "skippable": False, "retryable": "no",
                                              "optional": 1, "timeout": "30",
                                              "auto_retry": {"enable": True, "times": 3, "interval": 5}}))
    node = written.root.nodes["a0"]
    assert (node.error_ignorable, node.skippable, node.retryable, node.optional) == (True, False, False, True)
    assert node.timeout == 30.0 and (node.auto_retry_times, node.auto_retry_interval) == (3, 5.0)
    nulls = compile_tree(graph_tree([], 1, {"error_ignorable": None, "skippable": None, "timeout": None,
                                            "auto_retry": {"enable": False, "times": 3}})).root.nodes["a0"]
    assert (nulls.error_ignorable, nulls.skippable, nulls.timeout, nulls.auto_retry_times) == (False, True, None, 0)
