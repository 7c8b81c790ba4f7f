"""Run-time variable contexts, one per scope (the root and each SubProcess).

A scope's context holds raw values: constants as written in the tree (which
may reference each other with `${...}`) and node outputs written by
component_outputs constants. Outputs are data, never templates, so they are
marked plain and are not rendered again. Values are resolved lazily and only
for the names a node actually uses.
"""
from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter
from typing import Any

from .expressions import ExpressionError, references, render


class ScopeContext:
    """A view over one scope's stored `{"values": {...}, "plain": [...]}`."""

    def __init__(self, stored: dict[str, Any]) -> None:
        self.values: dict[str, Any] = stored.setdefault("values", {})
        plain = stored.setdefault("plain", [])
        self.plain: set[str] = set(plain)
        self._stored = stored
        self._resolved: dict[str, Any] = {}

    def set_plain(self, name: str, value: Any) -> None:
        self.values[name] = value
        if name not in self.plain:
            self.plain.add(name)
            self._stored["plain"] = sorted(self.plain)
        self._resolved.clear()

    def closure(self, names: Iterable[str]) -> set[str]:
        """`names` and every stored name they reference, transitively."""
        result: set[str] = set()
        stack = [n for n in names if n in self.values]
        while stack:
            name = stack.pop()
            if name in result:
                continue
            result.add(name)
            if name not in self.plain:
                stack.extend(n for n in references(self.values[name]) if n in self.values and n not in result)
        return result

    def resolve(self, names: Iterable[str]) -> dict[str, Any]:
        """Resolved values of `names` (and what they need); raises ExpressionError."""
        wanted = self.closure(names)
        missing = [n for n in wanted if n not in self._resolved]
        if missing:
            graph = {
                n: (set() if n in self.plain else references(self.values[n]) & wanted)
                for n in wanted
            }
            try:
                order = list(TopologicalSorter(graph).static_order())
            except CycleError as exc:
                cycle = exc.args[1] if len(exc.args) > 1 else []
                chain = " -> ".join(f"${{{k}}}" for k in cycle)
                raise ExpressionError(f"Variables reference each other in a cycle: {chain}.") from exc
            for name in order:
                if name in self._resolved:
                    continue
                raw = self.values[name]
                self._resolved[name] = raw if (name in self.plain or not graph[name]) else render(
                    raw, self._resolved)
        return {n: self._resolved[n] for n in wanted}

    def resolve_all(self) -> dict[str, Any]:
        return self.resolve(list(self.values))


def child_context(child_constants: dict[str, Any], parent: ScopeContext) -> dict[str, Any]:
    """The stored context of a subprocess being entered.

    A child constant referencing a name the child does not define is rendered
    with the parent's value for that name now (names neither defines stay
    literal, and the child's own references are left for later).
    """
    values: dict[str, Any] = {}
    for name, raw in child_constants.items():
        outside = {n for n in references(raw) if n not in child_constants}
        if outside:
            parent_values = parent.resolve(outside)
            if parent_values:
                raw = render(raw, parent_values)
        values[name] = raw
    return {"values": values, "plain": []}
