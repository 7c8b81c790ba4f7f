"""SVG markup: names escaped, every node focusable and labelled with its state, templates stateless."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from pages_app import graph, svg
from tests.support import task_trees

NS = "{http://www.w3.org/2000/svg}"


def _tree_named(name: str) -> dict:
    tree = task_trees.timer_then_pause("1")
    tree["activities"]["timer"]["name"] = name
    return tree


def test_names_are_escaped_and_the_markup_is_well_formed():
    hostile = '<script>alert("x")</script> & "quotes"'
    markup = svg.render(graph.draw(_tree_named(hostile)), lambda b: "RUNNING", label='a "graph" <of> nodes')
    assert "<script>" not in markup
    root = ET.fromstring(markup)  # raises on broken markup
    node = next(g for g in root.iter(f"{NS}g") if g.get("data-key") == "timer")
    assert node.get("aria-label") == f"{hostile}, activity, RUNNING"
    assert node.find(f"{NS}title").text == f"{hostile} (sleep_timer)"
    assert root.get("aria-label") == 'a "graph" <of> nodes'


def test_each_node_is_a_focusable_button_carrying_its_state():
    states = {"start": "FINISHED", "timer": "FAILED", "pause": "READY", "end": "READY"}
    root = ET.fromstring(svg.render(graph.draw(task_trees.timer_then_pause("1")), lambda b: states[b.key],
                                    label="g"))
    nodes = [g for g in root.iter(f"{NS}g") if g.get("data-key")]
    assert {g.get("data-key"): g.get("data-state") for g in nodes} == states
    assert all(g.get("role") == "button" and g.get("tabindex") == "-1" for g in nodes)
    timer = next(g for g in nodes if g.get("data-key") == "timer")
    shown = [t.text for t in timer.iter(f"{NS}text")]
    assert "FAILED" in shown and "定时" in shown


def test_template_nodes_have_no_state():
    root = ET.fromstring(svg.render(graph.draw(task_trees.timer_then_pause("1")), lambda b: "", label="g"))
    nodes = [g for g in root.iter(f"{NS}g") if g.get("data-key")]
    assert all(g.get("data-state") is None for g in nodes)
    assert next(g for g in nodes if g.get("data-key") == "pause").get("aria-label") == "暂停, activity"


def test_long_names_are_shortened_on_the_node_but_kept_whole_for_readers():
    long_name = "a very long activity name that does not fit"
    root = ET.fromstring(svg.render(graph.draw(_tree_named(long_name)), lambda b: "READY", label="g"))
    node = next(g for g in root.iter(f"{NS}g") if g.get("data-key") == "timer")
    name = next(t for t in node.iter(f"{NS}text") if t.get("class") == "name")
    assert name.text.endswith("…") and len(name.text) == svg.NAME_CHARS
    assert node.get("aria-label").startswith(long_name)


def test_edges_are_paths_with_arrows():
    root = ET.fromstring(svg.render(graph.draw(task_trees.timer_then_pause("1")), lambda b: "", label="g"))
    paths = [p for p in root.iter(f"{NS}path") if p.get("class") == "edge"]
    assert len(paths) == 3
    assert all(p.get("marker-end") == "url(#arrow)" and p.get("d").startswith("M") and " C" in p.get("d")
               for p in paths)
