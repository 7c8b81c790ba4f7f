"""The compiled-tree cache: each process compiles a run's tree once (an LRU of TREE_CACHE_SIZE runs).

A run's tree never changes after its start, so a cached compiled tree is
never stale; a process that started the run caches the tree it compiled.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pipeline_engine.core.tree import CompiledTree, compile_tree

from . import rows

TREE_CACHE_SIZE = 128
_cache: OrderedDict[str, CompiledTree] = OrderedDict()
_lock = threading.Lock()


def remember(run_id: str, tree: CompiledTree) -> None:
    with _lock:
        _cache[run_id] = tree
        _cache.move_to_end(run_id)
        while len(_cache) > TREE_CACHE_SIZE:
            _cache.popitem(last=False)


def cached(run_id: str) -> CompiledTree | None:
    with _lock:
        tree = _cache.get(run_id)
        if tree is not None:
            _cache.move_to_end(run_id)
        return tree


def compiled_tree(run_id: str, raw: dict[str, Any] | None = None) -> CompiledTree:
    """The run's compiled tree: from the cache, else compiled from `raw` (read from the run's row
    when not given) and cached."""
    tree = cached(run_id)
    if tree is not None:
        return tree
    tree = compile_tree(raw if raw is not None else rows.load_tree(run_id))
    remember(run_id, tree)
    return tree
