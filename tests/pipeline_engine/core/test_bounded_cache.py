"""In-process caches bounded in entries and approximate bytes (core/bounded_cache.py), and the engine's
caches that use it: condition tokens, expression fragments (the compiled-tree cache: runtime/test_tree_cache.py)."""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field

import pytest

from pipeline_engine.core import conditions, expressions
from pipeline_engine.core.bounded_cache import BoundedCache, approx_size
from pipeline_engine.core.components import config


def test_approx_size_weighs_what_a_value_holds_once_and_stops_at_the_limit():
    text = "x" * 10_000
    assert approx_size(text) == sys.getsizeof(text)
    assert approx_size([text, text]) == sys.getsizeof([text, text]) + sys.getsizeof(text)  # shared: once
    assert approx_size({"k": [text]}) > 10_000

    @dataclass
    class Node:
        data: dict = field(default_factory=dict)

    assert approx_size(Node({"v": text})) > 10_000
    deep: list = []
    for _ in range(100_000):  # no recursion: any depth
        deep = [deep]
    assert approx_size(deep) > 100_000 * 56
    assert approx_size(["y" * 1000] * 1 + [str(i) * 500 for i in range(1000)], limit=10_000) < 20_000


def test_least_recently_used_entries_leave_while_over_the_byte_budget():
    cache: BoundedCache[str] = BoundedCache("t", max_entries=100, max_bytes=4000,
                                            sizeof=lambda value, limit: 1000)
    for key in "abcd":
        assert cache.put(key, key)
    assert cache.get("a") == "a"  # a is now the newest
    cache.put("e", "e")
    assert [k for k in "abcde" if cache.get(k) is not None] == ["a", "c", "d", "e"]
    assert cache.bytes == 4000 and len(cache) == 4


def test_an_entry_heavier_than_a_quarter_of_the_budget_is_not_stored_and_evicts_nothing():
    cache: BoundedCache[str] = BoundedCache("t", max_entries=100, max_bytes=40_000)
    cache.put("small", "s")
    assert cache.put("big", "x" * 20_000) is False
    assert cache.get("big") is None and cache.get("small") == "s"
    cache.put("small", "x" * 20_000)  # replaced by a value too heavy: the old one goes too
    assert cache.get("small") is None and cache.bytes == 0


def test_the_budget_is_read_at_each_store_and_entries_are_bounded_too():
    budget = [10_000]
    cache: BoundedCache[int] = BoundedCache("t", max_entries=3, max_bytes=lambda: budget[0])
    for i in range(5):
        cache.put(i, i)
    assert len(cache) == 3
    budget[0] = 0
    assert cache.put(9, 9) is False and cache.get(9) is None


def test_get_or_compute_caches_values_not_exceptions_and_is_thread_safe():
    cache: BoundedCache[int | None] = BoundedCache("t", max_entries=1000, max_bytes=1 << 20)
    assert cache.get_or_compute("none", lambda: None) is None
    assert cache.get_or_compute("none", lambda: pytest.fail("cached")) is None
    with pytest.raises(ZeroDivisionError):
        cache.get_or_compute("boom", lambda: 1 // 0)
    assert cache.get("boom") is None

    def hammer(offset: int) -> None:
        for i in range(2000):
            cache.get_or_compute((offset + i) % 1500, lambda i=i: i)

    threads = [threading.Thread(target=hammer, args=(n * 100,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(cache) <= 1000 and cache.bytes == sum(size for _, size in cache._entries.values())


def test_a_huge_condition_text_is_evaluated_but_not_cached():
    """The tokenizer's cache held up to 4,096 texts of up to 200k characters (issue 9)."""
    conditions._tokens.clear()
    long_text = " or ".join(["1 == 2"] * 1800) + " or 1 == 1"  # ~18,000 characters, ~7,200 tokens
    with config.override(SOPS_EXPRESSION_CACHE_BYTES=1 << 20):
        assert conditions.evaluate_condition(long_text, {}) is True
        assert long_text not in conditions._tokens._entries  # weighs more than 1/4 MiB in tokens
        assert conditions.evaluate_condition("1 == 1", {}) is True
        assert "1 == 1" in conditions._tokens._entries
        assert conditions._tokens.bytes <= 1 << 20


def test_expression_fragments_are_cached_within_the_byte_budget():
    expressions._fragments.clear()
    with config.override(SOPS_EXPRESSION_CACHE_BYTES=256 * 1024):
        for i in range(2000):
            assert expressions.render(f"${{a + {i}}}", {"a": 1}) == 1 + i
        assert expressions._fragments.bytes <= 256 * 1024
        assert 50 < len(expressions._fragments) < 2000  # the oldest were dropped to stay within it
