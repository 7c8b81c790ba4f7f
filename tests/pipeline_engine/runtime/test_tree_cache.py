"""The compiled-tree cache (runtime/tree_cache.py): compiled once per run, least recently used dropped,
bounded in bytes (SOPS_TREE_CACHE_BYTES) as well as in runs."""
from __future__ import annotations

import json

import pytest

from pipeline_engine.runtime import tree_cache
from tests.pipeline_engine.trees import linear


def linear_json(n: int) -> str:
    """A chain's tree as the run's row holds it: the cache takes the text, and weighs it."""
    return json.dumps(linear(n))


@pytest.fixture(autouse=True)
def small_cache(monkeypatch):
    from pipeline_engine.core.bounded_cache import BoundedCache
    from pipeline_engine.runtime import config

    monkeypatch.setattr(tree_cache, "_cache", BoundedCache("test trees", max_entries=2,
                                                           max_bytes=config.tree_cache_bytes))


def test_a_tree_is_compiled_once_and_served_from_the_cache():
    first = tree_cache.compiled_tree("a", linear_json(2))
    assert tree_cache.compiled_tree("a", linear_json(5)) is first  # the run's tree never changes
    assert tree_cache.cached("a") is first and tree_cache.cached("b") is None


def test_the_least_recently_used_run_leaves_first():
    a, b = tree_cache.compiled_tree("a", linear_json(1)), tree_cache.compiled_tree("b", linear_json(1))
    assert tree_cache.cached("a") is a  # "a" used again: "b" is now the oldest
    tree_cache.compiled_tree("c", linear_json(1))
    assert tree_cache.cached("b") is None and tree_cache.cached("a") is a and tree_cache.cached("c") is not None
    assert b is not None


@pytest.mark.django_db
def test_a_tree_not_given_is_read_from_the_runs_row():
    from pipeline_engine import api

    run_id = api.run_pipeline(linear(3))
    tree_cache._cache.clear()
    assert set(tree_cache.compiled_tree(run_id).root.nodes) == {"start", "n0", "n1", "n2", "end"}


def test_the_byte_budget_drops_the_oldest_and_a_tree_too_heavy_is_never_cached(settings):
    one = tree_cache.weight(linear_json(50)) + 1
    settings.SOPS_TREE_CACHE_BYTES = 4 * one + 100  # room for 4 such trees; an entry may weigh 1/4 of it
    tree_cache._cache.max_entries = 100
    for name in "abcde":
        tree_cache.compiled_tree(name, linear_json(50))
    assert tree_cache.cached("a") is None and all(tree_cache.cached(n) for n in "bcde")
    assert tree_cache._cache.bytes <= settings.SOPS_TREE_CACHE_BYTES
    huge = linear_json(300)
    assert tree_cache.weight(huge) > settings.SOPS_TREE_CACHE_BYTES // 4
    compiled = tree_cache.compiled_tree("huge", huge)
    assert tree_cache.cached("huge") is None  # compiled, answered, not kept
    assert set(compiled.root.nodes) >= {"start", "n299", "end"}
    assert all(tree_cache.cached(n) for n in "bcde")  # and nothing else was pushed out for it


@pytest.mark.django_db
def test_a_run_is_weighed_by_its_stored_text_by_its_starter_and_by_a_worker_alike():
    """The starter weighs the text it inserted, a worker the text it read back: the same text,
    with nothing serialised again to weigh it."""
    from pipeline_engine import api
    from pipeline_engine.runtime import rows

    tree = linear(20)
    run_id = api.run_pipeline(tree)
    stored = rows.load_tree_json(run_id)
    assert json.loads(stored)["activities"].keys() == tree["activities"].keys()
    expected = tree_cache.weight(stored) + len(run_id)
    assert tree_cache._cache.bytes == expected  # the starter's entry
    tree_cache._cache.clear()
    tree_cache.compiled_tree(run_id)  # a worker's first read
    assert tree_cache._cache.bytes == expected
    assert tree_cache.weight("x" * 10) == 2 * tree_cache.weight("x" * 5) > 0
