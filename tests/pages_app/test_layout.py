"""The layered layout: layers left to right, no overlaps, loops survive, bends for long edges."""
from __future__ import annotations

from pages_app import layout


def _boxes_overlap(pos, sizes):
    items = sorted(((x, y, x + sizes[n][0], y + sizes[n][1], n) for n, (x, y) in pos.items()))
    clashes = []
    for i, (_x1, y1, r1, b1, n1) in enumerate(items):
        for x2, y2, _r2, b2, n2 in items[i + 1:]:
            if x2 >= r1:
                break
            if y2 < b1 and y1 < b2:
                clashes.append((n1, n2))
    return clashes


def test_a_chain_lies_on_one_line_left_to_right():
    ids = ["s", "a", "b", "e"]
    sizes = {n: (40.0, 30.0) for n in ids}
    placed = layout.layered(ids, sizes, [("s", "a"), ("a", "b"), ("b", "e")])
    xs = [placed.pos[n][0] for n in ids]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert len({placed.pos[n][1] for n in ids}) == 1
    assert placed.reversed_edges == set()
    assert placed.width == xs[-1] + 40 and placed.height == 30


def test_branches_share_a_layer_without_overlapping_and_long_edges_bend():
    ids = ["s", "g", "a", "b1", "b2", "j", "e"]
    sizes = {n: (60.0, 40.0) for n in ids}
    edges = [("s", "g"), ("g", "a"), ("g", "b1"), ("b1", "b2"), ("a", "j"), ("b2", "j"), ("j", "e")]
    placed = layout.layered(ids, sizes, edges)
    assert placed.pos["a"][0] == placed.pos["b1"][0]
    assert placed.pos["a"][1] != placed.pos["b1"][1]
    assert _boxes_overlap(placed.pos, sizes) == []
    # a -> j spans two layers: one bend point, between a and j
    (bend,) = placed.bends[4]
    assert placed.pos["a"][0] + 60 < bend[0] < placed.pos["j"][0]
    assert placed.bends[3] == []


def test_a_loop_is_laid_out_with_its_closing_edge_reversed():
    ids = ["s", "a", "b", "e"]
    sizes = {n: (40.0, 30.0) for n in ids}
    edges = [("s", "a"), ("a", "b"), ("b", "a"), ("b", "e")]
    placed = layout.layered(ids, sizes, edges)
    assert placed.reversed_edges == {2}
    assert placed.pos["s"][0] < placed.pos["a"][0] < placed.pos["b"][0] < placed.pos["e"][0]


def test_a_thousand_nodes_in_wide_blocks_never_overlap():
    ids, edges = ["s"], []
    prev = "s"
    for k in range(40):
        g, j = f"g{k}", f"j{k}"
        ids += [g, j]
        edges.append((prev, g))
        for w in range(23):
            n = f"n{k}_{w}"
            ids.append(n)
            edges += [(g, n), (n, j)]
        prev = j
    ids.append("e")
    edges.append((prev, "e"))
    sizes = {n: (150.0, 52.0) if n.startswith("n") else (40.0, 40.0) for n in ids}
    placed = layout.layered(ids, sizes, edges)
    assert len(placed.pos) == len(ids) > 1000
    assert _boxes_overlap(placed.pos, sizes) == []
    assert all(x >= 0 and y >= 0 for x, y in placed.pos.values())


def test_pava_is_the_closest_non_decreasing_sequence():
    assert layout._pava([1.0, 3.0, 2.0, 4.0], [1.0] * 4) == [1.0, 2.5, 2.5, 4.0]
    assert layout._pava([5.0, 1.0], [3.0, 1.0]) == [4.0, 4.0]
    assert layout._pava([], []) == []
