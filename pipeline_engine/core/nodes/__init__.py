"""The node kinds, one module per kind, and the tables the walker and validation look kinds up in.

"Where does an ExclusiveGateway behave?" -> nodes/exclusive_gateway.py; likewise
for every kind (start and end events share nodes/events.py). A kind module
holds what entering a node of that kind does, its validation rules, and, for
the kinds that have them, its failure rules and its part of the operations.
"""
from __future__ import annotations

from .. import tree as t
from . import (
    activity,
    conditional_parallel_gateway,
    converge_gateway,
    events,
    exclusive_gateway,
    parallel_gateway,
    sub_process,
)
from .base import EnterFn, FailFn, Kind

KINDS: dict[str, Kind] = {kind.type: kind for kind in (
    events.START, events.END, activity.KIND, sub_process.KIND, parallel_gateway.KIND, exclusive_gateway.KIND,
    conditional_parallel_gateway.KIND, converge_gateway.KIND,
)}
assert set(KINDS) == t.NODE_TYPES, "every node type of the tree format needs a kind"

# The walker's hot loop looks these up once per node entered: plain dicts, no attribute access.
ENTER_BY_TYPE: dict[str, EnterFn] = {type_: kind.enter for type_, kind in KINDS.items()}
FAIL_BY_TYPE: dict[str, FailFn] = {type_: kind.fail for type_, kind in KINDS.items() if kind.fail is not None}
RETRYABLE_TYPES = frozenset(type_ for type_, kind in KINDS.items() if kind.retryable)

__all__ = ["ENTER_BY_TYPE", "FAIL_BY_TYPE", "KINDS", "RETRYABLE_TYPES", "Kind"]
