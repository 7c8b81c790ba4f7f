"""In-process caches of the apps: the engine's one implementation, bounded in entries and in bytes.

`pipeline_engine/core/bounded_cache.py` holds the rule (least recently used entries dropped while
over the byte budget; an entry heavier than a quarter of it never stored). The apps reach it here,
through the engine's API, so the layers below the engine (identity) need no import of it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def bounded_cache(name: str, *, max_entries: int, max_bytes: int | Callable[[], int]) -> Any:
    """A new `BoundedCache` (get, put, get_or_compute, pop, clear)."""
    from pipeline_engine import api  # late: the engine's app loads with the others

    return api.BoundedCache(name, max_entries=max_entries, max_bytes=max_bytes)
