"""What every node kind module provides (`Kind`), and the validation rules kinds share.

A kind's functions receive the walker; they change it only through its
public methods (begin, finish, activate, fail, push, ...), so the frontier,
the records and the fence stay the walker's.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import tree as t
from ..expressions import FRAGMENT_RE, references

if TYPE_CHECKING:  # the walker imports the kinds; they only need its type
    from ..records import NodeRecord
    from ..walker import Walker

# A node kind's parts, as the walker and validation call them.
EnterFn = Callable[["Walker", t.Scope, t.Node, str, str], None]
FailFn = Callable[["Walker", t.Scope, t.Node, "NodeRecord", str], None]
Add = Callable[[str], None]
# (scope, node, whether some flow leads to it, its number of outgoing flows, add)
ShapeCheck = Callable[[t.Scope, t.Node, bool, int, Add], None]
ReferenceCheck = Callable[[t.Node, "Names", Add, bool], None]

MAX_BRANCHES = 1000

# Names a `${...}` may use without a constant defining them: runtime values
# the engine puts in every node's context, and system namespaces the task
# layer may provide.
SYSTEM_NAMES = frozenset({"_loop", "_inner_loop", "_result", "_system", "_env"})
SYSTEM_PREFIXES = ("_system", "_env_")


@dataclass(frozen=True)
class Kind:
    """One kind of node: what entering it does, and the rules validation checks for it."""

    type: str
    enter: EnterFn
    # Degrees and the node's own fields, given whether a flow leads to it and its out-degree.
    check_shape: ShapeCheck
    # `${...}` references and registered components; None when the kind has none.
    check_references: ReferenceCheck | None = None
    # Its own bookkeeping when the walker fails a node for good; None: nothing beyond waiting for an operator.
    fail: FailFn | None = None
    # Whether an operator may retry a node of this kind once it failed.
    retryable: bool = False


def is_system_name(name: str) -> bool:
    return name in SYSTEM_NAMES or name.startswith(SYSTEM_PREFIXES)


def label(node: t.Node) -> str:
    """How validation messages name a node: type, id and name."""
    return f"{node.type} {node.id}" + (f" ({node.name})" if node.name else "")


class Names:
    """The variables one scope defines, for the reference rules of its nodes."""

    def __init__(self, known: set[str]) -> None:
        self.known = known

    def unknown(self, value: Any) -> list[str]:
        """Names `value` references that neither a constant nor the system defines."""
        return sorted(n for n in references(value) if n not in self.known and not is_system_name(n))

    def unknown_in_input(self, value: Any) -> list[str]:
        """As `unknown`, but only for values that are exactly one `${...}`.

        Only such a value is certainly a variable. Inside longer text (a script
        body) `${HOME}` may be the shell's; like the original, an unknown
        fragment there renders literally instead of refusing the tree.
        """
        if isinstance(value, dict):
            return sorted({n for v in value.values() for n in self.unknown_in_input(v)})
        if isinstance(value, list):
            return sorted({n for v in value for n in self.unknown_in_input(v)})
        if isinstance(value, str) and FRAGMENT_RE.fullmatch(value.strip()):
            return self.unknown(value)
        return []


def check_one_way(scope: t.Scope, node: t.Node, targeted: bool, out_degree: int, add: Add) -> None:
    """A node on one path: reached by a flow, left by exactly one."""
    if not targeted:
        add(f"{label(node)}: needs at least one incoming flow (not reachable from the start event)")
    if out_degree != 1:
        add(f"{label(node)}: needs exactly one outgoing flow, has {out_degree}")


def check_divergent(scope: t.Scope, node: t.Node, targeted: bool, out_degree: int, add: Add) -> None:
    """A gateway that opens branches: reached by a flow, left by 1 to MAX_BRANCHES."""
    if not targeted:
        add(f"{label(node)}: needs at least one incoming flow (not reachable from the start event)")
    if not 1 <= out_degree <= MAX_BRANCHES:
        add(f"{label(node)}: needs 1 to {MAX_BRANCHES} outgoing flows, has {out_degree}")
