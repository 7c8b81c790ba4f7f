"""Trees as drawings: shapes per node type, saved positions, automatic layout, subprocesses in place."""
from __future__ import annotations

import copy

from pages_app import graph
from tests.support import task_trees

from . import trees


def _inside(inner: graph.Box, outer: graph.Box) -> bool:
    return (outer.x <= inner.x and inner.x + inner.w <= outer.x + outer.w
            and outer.y <= inner.y and inner.y + inner.h <= outer.y + outer.h)


def _overlap(a: graph.Box, b: graph.Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def scenario_unfolded() -> dict:
    tree = trees.scenario(7)
    tree["activities"]["deploy"]["pipeline"] = trees.child_timers()
    return tree


def test_every_node_gets_the_shape_of_its_type():
    drawing = graph.draw(scenario_unfolded())
    kinds = {b.key: b.kind for b in drawing.boxes}
    assert kinds["start"] == kinds["end"] == "event"
    assert kinds["pg"] == kinds["route"] == kinds["cg"] == "gateway"
    assert kinds["wait"] == "activity" and kinds["deploy"] == "subprocess"
    assert len(drawing.boxes) == 11 + 4  # the child's start, two timers and end are drawn too
    assert len(drawing.edges) == 12 + 3


def test_a_subprocess_expands_in_place_around_its_own_nodes():
    drawing = graph.draw(scenario_unfolded())
    frame = drawing.box("deploy")
    assert frame.expanded
    children = [b for b in drawing.boxes if b.key.startswith("deploy/")]
    assert {b.key for b in children} == {"deploy/start", "deploy/t1", "deploy/t2", "deploy/end"}
    assert all(_inside(b, frame) and b.depth == 1 and b.stack == ["deploy"] for b in children)
    others = [b for b in drawing.boxes if b.depth == 0 and b.key != "deploy"]
    assert not any(_overlap(frame, b) for b in others)


def test_without_saved_positions_the_flow_runs_left_to_right_without_overlaps():
    tree = scenario_unfolded()
    tree.pop("location")  # TreeBuilder saves every node at (0, 0) anyway
    drawing = graph.draw(tree)
    top = [b for b in drawing.boxes if b.depth == 0]
    assert not any(_overlap(a, b) for i, a in enumerate(top) for b in top[i + 1:])
    pos = {b.key: b for b in drawing.boxes}
    for edge in drawing.edges:
        a, b = pos[edge.source], pos[edge.target]
        assert a.x + a.w <= b.x, (edge.source, edge.target)
        assert edge.points[0] == (a.x + a.w, a.y + a.h / 2)
        assert edge.points[-1] == (b.x, b.y + b.h / 2)


def test_saved_positions_and_sides_are_used_when_every_node_has_its_own():
    tree = task_trees.timer_then_pause("1")
    spots = {"start": (80, 150), "timer": (300, 133), "pause": (300, 400), "end": (631, 400)}
    tree["location"] = [{"id": k, "x": x, "y": y} for k, (x, y) in spots.items()]
    down = next(f for f, v in tree["flows"].items() if v["source"] == "timer")
    for line in tree["line"]:
        if line["id"] == down:
            line["source"]["arrow"], line["target"]["arrow"] = "Bottom", "Top"
    drawing = graph.draw(tree)
    box = {b.key: b for b in drawing.boxes}
    # the editor's corners keep their distances (centres, shifted so the drawing starts at the margin)
    assert box["timer"].x == box["pause"].x
    assert box["pause"].y - box["timer"].y == 400 - 133
    assert box["end"].x + box["end"].w / 2 - (box["pause"].x + box["pause"].w / 2) == 631 - 300 + 21 - 75
    edge = next(e for e in drawing.edges if e.flow_id == down)
    assert edge.points[0] == (box["timer"].x + box["timer"].w / 2, box["timer"].y + box["timer"].h)
    assert edge.points[1] == (box["pause"].x + box["pause"].w / 2, box["pause"].y)
    assert edge.out_dir == (0.0, 1.0) and edge.in_dir == (0.0, 1.0)


def test_positions_saved_on_one_spot_or_missing_for_a_node_are_ignored():
    tree = task_trees.timer_then_pause("1")
    stacked = graph.draw(tree)  # every location is (0, 0)
    assert len({(b.x, b.y) for b in stacked.boxes}) == 4
    partial = copy.deepcopy(tree)
    partial["location"] = [{"id": "start", "x": 500, "y": 500}, {"id": "timer", "x": 0, "y": 0}]
    assert [(b.x, b.y) for b in graph.draw(partial).boxes] == [(b.x, b.y) for b in stacked.boxes]


def test_a_subprocess_with_saved_positions_pushes_later_nodes_right_and_down():
    tree = scenario_unfolded()
    spots = {"start": 0, "wait": 100, "pg": 300, "check": 400, "deploy": 400, "cg": 600, "route": 700,
             "notify": 800, "done": 800, "cg2": 1000, "end": 1100}
    rows = {"check": 0, "notify": 0, "deploy": 150, "done": 150}
    tree["location"] = [{"id": k, "x": x, "y": rows.get(k, 80)} for k, x in spots.items()]
    drawing = graph.draw(tree)
    frame = drawing.box("deploy")
    assert frame.expanded and frame.w > 150
    top = [b for b in drawing.boxes if b.depth == 0]
    assert not any(_overlap(a, b) for i, a in enumerate(top) for b in top[i + 1:])
    assert drawing.box("cg").x >= frame.x + frame.w


def test_gateway_branches_are_labelled_with_their_conditions():
    drawing = graph.draw(scenario_unfolded())
    labels = {drawing.box(e.target).node_id: e.label for e in drawing.edges if e.source == "route"}
    assert labels == {"notify": "prod", "done": "not prod"}


def test_a_malformed_tree_still_draws_what_it_can():
    assert graph.draw({}).boxes == []
    tree = task_trees.timer_then_pause("1")
    tree["flows"]["bogus"] = {"source": "nowhere", "target": "timer"}
    tree["activities"]["timer"]["name"] = ""
    drawing = graph.draw(tree)
    assert len(drawing.boxes) == 4 and len(drawing.edges) == 3
    assert drawing.box("timer").label == "timer"
