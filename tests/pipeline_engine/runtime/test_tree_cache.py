"""The compiled-tree cache (runtime/tree_cache.py): compiled once per run, least recently used dropped."""
from __future__ import annotations

import pytest

from pipeline_engine.runtime import tree_cache
from tests.pipeline_engine.trees import linear


@pytest.fixture(autouse=True)
def small_cache(monkeypatch):
    monkeypatch.setattr(tree_cache, "TREE_CACHE_SIZE", 2)
    monkeypatch.setattr(tree_cache, "_cache", type(tree_cache._cache)())


def test_a_tree_is_compiled_once_and_served_from_the_cache():
    first = tree_cache.compiled_tree("a", linear(2))
    assert tree_cache.compiled_tree("a", linear(5)) is first  # the run's tree never changes
    assert tree_cache.cached("a") is first and tree_cache.cached("b") is None


def test_the_least_recently_used_run_leaves_first():
    a, b = tree_cache.compiled_tree("a", linear(1)), tree_cache.compiled_tree("b", linear(1))
    assert tree_cache.cached("a") is a  # "a" used again: "b" is now the oldest
    tree_cache.remember("c", tree_cache.compiled_tree("c", linear(1)))
    assert tree_cache.cached("b") is None and tree_cache.cached("a") is a and tree_cache.cached("c") is not None
    assert b is not None


@pytest.mark.django_db
def test_a_tree_not_given_is_read_from_the_runs_row():
    from pipeline_engine import api

    run_id = api.run_pipeline(linear(3))
    tree_cache._cache.clear()
    assert set(tree_cache.compiled_tree(run_id).root.nodes) == {"start", "n0", "n1", "n2", "end"}
