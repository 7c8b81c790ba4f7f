"""The expansion budget (core/expansion.py): node count and SubProcess depth, inline and referenced alike,
counted without recursion, refused naming the tree and the count."""
from __future__ import annotations

import copy
import time

import pytest

from pipeline_engine.core import expansion
from pipeline_engine.core.components import config as component_config
from pipeline_engine.core.tree_edit import unfold_subprocesses
from pipeline_engine.core.validation import validate_tree
from pipeline_engine.errors import ExpansionExceeded, TreeInvalid
from tests.support.task_trees import fan_out, inline_nest


def fan_out_resolver(levels: int, width: int, calls: list[int] | None = None):
    """Template n (1..levels) holds `width` SubProcess nodes naming template n-1; template 0 is a leaf."""
    trees = {0: inline_nest(0)}
    for n in range(1, levels + 1):
        trees[n] = fan_out(n - 1, width)

    def resolve(node: dict) -> tuple[int, dict]:
        if calls is not None:
            calls.append(node["template_id"])
        return node["template_id"], copy.deepcopy(trees[node["template_id"]])

    return trees, resolve


def test_a_tree_is_counted_level_by_level():
    assert expansion.check(inline_nest(0)).nodes == 3  # start, noop, end
    tally = expansion.check(inline_nest(3))
    assert tally.nodes == 3 * 3 + 3 and tally.deepest == 3


@pytest.mark.parametrize("depth", [9, 300, 20_000])
def test_inline_nesting_past_the_depth_is_refused_without_recursion(depth):
    tree = inline_nest(depth)
    with pytest.raises(ExpansionExceeded, match=r"template\[id=7\] nests subprocesses 9 levels deep at "
                                                r"subprocess node\[id=sub\d+\], more than 8 \(the limit is "
                                                r"SOPS_MAX_SUBPROCESS_DEPTH\)"):
        expansion.check(tree, label="template[id=7]")
    # Validation (the engine's own entry: run_pipeline) checks first, so compiling never recurses that far.
    with pytest.raises(ExpansionExceeded):
        validate_tree(tree)


def test_eight_levels_are_within_the_default_depth():
    validate_tree(inline_nest(8))


def test_the_node_budget_is_exact_and_named():
    budget = expansion.Budget(max_nodes=12, max_depth=8)
    expansion.check(inline_nest(3), budget)  # 12 nodes: at the limit
    with pytest.raises(ExpansionExceeded, match=r"^t has 12 nodes once its subprocesses are unfolded, more than "
                                                r"11 \(the limit is SOPS_MAX_EXPANDED_NODES\)$"):
        expansion.check(inline_nest(3), expansion.Budget(max_nodes=11, max_depth=8), label="t")


def test_the_settings_set_the_budget():
    with component_config.override(SOPS_MAX_EXPANDED_NODES=5, SOPS_MAX_SUBPROCESS_DEPTH=2):
        assert expansion.Budget.configured() == expansion.Budget(max_nodes=5, max_depth=2)
        with pytest.raises(ExpansionExceeded, match="has 6 nodes once its subprocesses are unfolded, more than 5"):
            validate_tree(inline_nest(1))
    with component_config.override(SOPS_MAX_SUBPROCESS_DEPTH=2):
        with pytest.raises(ExpansionExceeded, match="3 levels deep"):
            validate_tree(inline_nest(3))
    assert expansion.Budget.configured() == expansion.Budget(20_000, 8)


def test_fan_out_is_measured_exactly_and_refused_before_anything_is_copied():
    """The issue's case: four levels of ten SubProcess nodes (10,000 leaf copies). Each template is
    resolved once, and the count is exact: 12 + 10 x 12 + 100 x 12 + 1,000 x 12 + 10,000 x 3."""
    calls: list[int] = []
    trees, resolve = fan_out_resolver(levels=4, width=10, calls=calls)
    t0 = time.perf_counter()
    with pytest.raises(ExpansionExceeded, match=r"^template\[id=4\] has 43332 nodes once its subprocesses are "
                                                r"unfolded, more than 20000 \(the limit is SOPS_MAX_EXPANDED_NODES\)$"):
        unfold_subprocesses(copy.deepcopy(trees[4]), resolve, label="template[id=4]")
    elapsed = time.perf_counter() - t0
    assert calls == [3, 2, 1, 0] and elapsed < 0.5, (calls, elapsed)
    # One level less fits (1,000 leaf copies) and unfolds completely, each template resolved once.
    calls.clear()
    tree = unfold_subprocesses(copy.deepcopy(trees[3]), fan_out_resolver(3, 10, calls)[1])
    assert expansion.check(tree).nodes == 1 * 12 + 10 * 12 + 100 * 12 + 1000 * 3 == 4332
    assert sorted(calls) == [0, 1, 2]


def test_referenced_and_inline_levels_count_together():
    """A referenced template whose tree nests inline: the levels add up."""
    def resolve(node: dict) -> tuple[int, dict]:
        return 1, inline_nest(5)

    unfold_subprocesses(fan_out(1, 1), resolve)  # 1 + 5 levels
    with pytest.raises(ExpansionExceeded, match="9 levels deep"):
        unfold_subprocesses(fan_out(1, 1), lambda node: (1, inline_nest(8)))


def test_inline_trees_are_unfolded_too_and_cycles_still_refused():
    tree = inline_nest(1)
    tree["activities"]["sub0"]["pipeline"] = fan_out(5, 1)
    unfolded = unfold_subprocesses(tree, lambda node: (node["template_id"], inline_nest(0)))
    assert unfolded["activities"]["sub0"]["pipeline"]["activities"]["sub0"]["pipeline"]["activities"]["leaf"]
    with pytest.raises(TreeInvalid, match=r"template\[id=5\] include itself"):
        unfold_subprocesses(fan_out(5, 1), lambda node: (5, fan_out(5, 1)))
