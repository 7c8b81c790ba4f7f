"""In-process caches bounded in entries and in approximate bytes: the one implementation every cache uses.

A cache that counts only entries holds as much memory as its largest entries
allow: the condition tokenizer's 4,096 texts could each be 200,000 characters
(issue 9). Here each entry is weighed when stored (`approx_size`: what
`sys.getsizeof` says of the value and of everything it holds), the least
recently used entries are dropped while the total is over the byte budget, and
an entry heavier than a quarter of the budget is not stored at all (it would
evict everything else for one value that is rarely asked for again).

The budget is a number or a function read at each store, so a setting changed
at runtime (or by a test) applies at once. Plain Python and thread-safe; the
engine's caches use it directly, the apps through `pipeline_engine.api`.
"""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: An entry heavier than this share of its cache's byte budget is not stored.
LARGEST_ENTRY_SHARE = 4
_MISSING = object()


def approx_size(value: Any, limit: int | None = None) -> int:
    """Bytes `value` holds, approximately: `sys.getsizeof` of it and of every object it reaches through
    containers, instance `__dict__`s and `__slots__`, each counted once. Iterative (any depth).

    With `limit`, the walk stops once the total passes it (the answer is then only "more than
    limit"): weighing a huge value to refuse it costs no more than the limit's worth of work.
    """
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, bool | type):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item, 64)
        if limit is not None and total > limit:
            return total
        if isinstance(item, str | bytes | int | float):
            continue
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        else:
            attrs = getattr(item, "__dict__", None)
            children = [attrs] if isinstance(attrs, dict) else []
            for cls in type(item).__mro__:
                for slot in cls.__dict__.get("__slots__", ()):
                    if isinstance(slot, str) and slot not in ("__dict__", "__weakref__"):
                        children.append(getattr(item, slot, None))
        for child in children:
            # Text and numbers are weighed here, not pushed: most of a tree's objects are.
            if isinstance(child, str | int | float) and not isinstance(child, bool):
                if id(child) not in seen:
                    seen.add(id(child))
                    total += sys.getsizeof(child, 64)
                    if limit is not None and total > limit:
                        return total
            elif child is not None and not isinstance(child, bool | type):
                stack.append(child)
        if limit is not None and total > limit:
            return total
    return total


class BoundedCache(Generic[V]):
    """An LRU mapping bounded by `max_entries` and by `max_bytes` (approximate, see `approx_size`)."""

    def __init__(self, name: str, *, max_entries: int, max_bytes: int | Callable[[], int],
                 sizeof: Callable[[Any, int | None], int] = approx_size) -> None:
        self.name = name
        self.max_entries = max_entries
        self._max_bytes = max_bytes
        self._sizeof = sizeof
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int:
        return int(self._max_bytes() if callable(self._max_bytes) else self._max_bytes)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, default: Any = None) -> V | Any:
        with self._lock:
            hit = self._entries.get(key, _MISSING)
            if hit is _MISSING:
                return default
            self._entries.move_to_end(key)
            return hit[0]  # type: ignore[index]  # not _MISSING here: an entry tuple

    def put(self, key: Hashable, value: V, size: int | None = None) -> bool:
        """Store `value`, weighing it and its key (or taking `size`, when the caller knows a cheaper
        measure); False when it is too heavy to be stored."""
        budget = self.max_bytes
        largest = budget // LARGEST_ENTRY_SHARE
        if size is None:
            size = self._sizeof((key, value), largest)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > largest or budget <= 0:
                return False
            self._entries[key] = (value, size)
            self._bytes += size
            while self._entries and (self._bytes > budget or len(self._entries) > self.max_entries):
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return True

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value, or `compute()` stored and returned. Exceptions are not cached."""
        hit = self.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        value = compute()
        self.put(key, value)
        return value

    def pop(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
