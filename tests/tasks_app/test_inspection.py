"""The reads behind the inspection endpoints that are pure rules: the effective-time walk and paging."""
from __future__ import annotations

import pytest

from sops_common.errors import InvalidInput
from tasks_app import inspection
from tests.support import task_trees as trees


def walk(tree: dict, elapsed: dict[str, int], excluded: set[str] = frozenset()) -> tuple[int, list[dict]]:
    details: list[dict] = []
    codes = {k: "sleep_timer" for k in elapsed}
    return inspection._Walk(tree, "", elapsed, codes, set(excluded), details).total(), details


def test_a_fork_counts_its_longest_branch_and_the_walk_goes_on_after_the_branches_meet():
    tree = trees.parallel_with_optional()  # first -> pg -> (opt_a | opt_b -> keep_b) -> cg -> last -> end
    seconds, details = walk(tree, {"first": 1, "opt_a": 5, "opt_b": 2, "keep_b": 2, "last": 7})
    assert seconds == 1 + 5 + 7  # the original stops at cg and answers 6
    assert {d["node_id"] for d in details} == {"first", "opt_a", "opt_b", "keep_b", "last"}
    seconds, _ = walk(tree, {"first": 1, "opt_a": 3, "opt_b": 2, "keep_b": 2, "last": 7})
    assert seconds == 1 + 4 + 7


def test_excluded_components_count_nothing():
    tree = trees.parallel_with_optional()
    seconds, details = walk(tree, {"first": 1, "opt_a": 5, "last": 7}, excluded={"sleep_timer"})
    assert seconds == 0 and all(d["excluded"] and d["counted_time"] == 0 for d in details)


def test_an_exclusive_gateway_takes_its_longest_branch():
    tree = trees.exclusive_on_x()  # eg -> (a | b) -> cg -> end
    assert walk(tree, {"a": 3, "b": 4})[0] == 4
    assert walk(tree, {"a": 3})[0] == 3


def test_a_subprocess_counts_its_own_nodes():
    tree = trees.subprocess_of(1)
    tree["activities"]["sub"]["pipeline"] = trees.timer_then_assign("1")
    elapsed = {"sub/ctimer": 2, "sub/cdone": 1}
    assert inspection._Walk(tree, "", elapsed, {}, set(), []).total() == 3


@pytest.mark.parametrize(("offset", "limit", "expected"), [
    (None, None, (0, 100)), ("5", "500", (5, 200)), (0, 0, (0, 0)), ("", "", (0, 100))])
def test_paging_defaults_and_the_cap(offset, limit, expected):
    assert inspection.page_bounds(offset, limit) == expected


@pytest.mark.parametrize(("offset", "limit"), [(-1, 1), ("x", 1), (0, "1.5"), (0, -2)])
def test_paging_refusals_name_the_pagination_error(offset, limit):
    with pytest.raises(InvalidInput, match=r"^\[API\] pagination error: "):
        inspection.page_bounds(offset, limit)


def test_raw_times_follow_the_originals_two_renderings():
    import datetime as dt
    import zoneinfo

    at = dt.datetime(2020, 11, 10, 4, 17, 15, 586999, tzinfo=dt.UTC)
    assert inspection.raw_time(at, None) == "2020-11-10T04:17:15.586Z"
    assert inspection.raw_time(None, None) is None
    zone = zoneinfo.ZoneInfo("Asia/Shanghai")
    assert inspection.raw_time(at, zone) == "2020-11-10 12:17:15 +0800" and inspection.raw_time(None, zone) == ""
