"""The compiled-tree cache: each process compiles a run's tree once (an LRU of at most TREE_CACHE_SIZE
runs and SOPS_TREE_CACHE_BYTES, approximately; core/bounded_cache.py).

A run's tree never changes after its start, so a cached compiled tree is
never stale; a process that started the run caches the tree it compiled. A
tree heavier than a quarter of the byte budget is compiled again at each
step rather than crowding every other run out of the cache.

A compiled tree is weighed as COMPILED_PER_JSON_BYTE times the JSON text the
run's row stores (its starter's serialisation, which a worker reads back), so
weighing costs nothing: walking the compiled objects (`approx_size`) cost more
than compiling them (1.5 ms against 1 ms for 100 nodes). The ratio was
measured on bench/trees.py's chains: 100 KB compiled for 51 KB of `json.dumps`
text at 100 nodes, 948 KB for 506 KB at 1,000; the stored text (orjson's,
core/jsontext.py) is 6 % shorter, so the ratio is still about 2.
"""
from __future__ import annotations

from pipeline_engine.core import jsontext
from pipeline_engine.core.bounded_cache import BoundedCache
from pipeline_engine.core.tree import CompiledTree, compile_tree

from . import config, rows

TREE_CACHE_SIZE = 128
COMPILED_PER_JSON_BYTE = 2
_cache: BoundedCache[CompiledTree] = BoundedCache("compiled trees", max_entries=TREE_CACHE_SIZE,
                                                  max_bytes=config.tree_cache_bytes)


def weight(tree_json: str) -> int:
    """The approximate bytes of a tree compiled, from its JSON text (see the module's docstring).

    The text is the one the run's row holds, which its starter wrote and a worker reads: weighing
    it costs nothing, where serialising a 1,000-node tree again to weigh it cost 2 ms."""
    return COMPILED_PER_JSON_BYTE * len(tree_json)


def remember(run_id: str, tree: CompiledTree, tree_json: str) -> bool:
    """Cache `tree`, compiled from `tree_json`; False when it is too heavy to be cached."""
    return _cache.put(run_id, tree, size=weight(tree_json) + len(run_id))


def cached(run_id: str) -> CompiledTree | None:
    tree: CompiledTree | None = _cache.get(run_id)
    return tree


def compiled_tree(run_id: str, tree_json: str | None = None) -> CompiledTree:
    """The run's compiled tree: from the cache, else compiled from `tree_json` (read from the run's
    row when not given) and cached."""
    tree = cached(run_id)
    if tree is not None:
        return tree
    tree_json = tree_json if tree_json is not None else rows.load_tree_json(run_id)
    tree = compile_tree(jsontext.loads_object(tree_json))
    remember(run_id, tree, tree_json)
    return tree
