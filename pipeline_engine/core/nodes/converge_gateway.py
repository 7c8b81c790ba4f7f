"""ConvergeGateway: joins the branches of its parallel gateway, and where a fork's branches meet.

The join: a fork opens `joins[converge key] = [arrived, needed]`; each token
reaching the converge counts once, and the last one passes. A converge no
fork opened a join for (it merges exclusive branches) lets every token pass.

`find_converge` is the one rule for "where do a fork's branches meet", used by
validation (on compiled scopes) and by tree editing (on web trees).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from .. import tree as t
from ..records import ENTER
from .base import Add, Kind, check_one_way, label

if TYPE_CHECKING:
    from ..walker import Walker


def enter(w: Walker, scope: t.Scope, node: t.Node, key: str, mode: str) -> None:
    join = w.frontier["joins"].get(key)
    if join is not None and mode == ENTER:
        join[0] += 1
        w.changed = True
        if join[0] < join[1]:
            return
        del w.frontier["joins"][key]
    rec = w.begin(scope, node, key, mode)
    if rec is None:
        return
    w.finish(rec)
    w.push_target(scope, node.targets[0])


def open_join(w: Walker, scope: t.Scope, converge_id: str, branches: int) -> None:
    """The converge lets a token pass once `branches` tokens have arrived."""
    w.frontier["joins"][scope.key(converge_id)] = [0, branches]


def find_converge(fork_id: str, branches: Sequence[str], successors: Callable[[str], Iterable[str]],
                  is_converge: Callable[[str], bool]) -> str | None:
    """The nearest converge gateway every branch of fork `fork_id` reaches, or None.

    `branches` are the nodes the fork's outgoing flows lead to. Each branch is
    walked breadth-first, one layer per round, without walking on through the
    fork itself; the first converge reached by every branch wins. Nested
    blocks need no special case: their own converge is reached by one branch
    only. Unknown node ids are dead ends (`successors` gives none).
    """
    frontiers = [deque([start]) for start in branches]
    visited = [{start} for start in branches]
    reached_by: dict[str, int] = {}
    wanted = len(frontiers)
    while any(frontiers):
        candidates: list[str] = []
        for i, frontier in enumerate(frontiers):
            for _ in range(len(frontier)):  # one layer per branch per round
                node_id = frontier.popleft()
                if is_converge(node_id):
                    reached_by[node_id] = reached_by.get(node_id, 0) + 1
                    if reached_by[node_id] == wanted:
                        candidates.append(node_id)
                if node_id == fork_id:
                    continue
                for target in successors(node_id):
                    if target not in visited[i]:
                        visited[i].add(target)
                        frontier.append(target)
        if candidates:
            return candidates[0]
    return None


def scope_converge(scope: t.Scope, fork: t.Node) -> str | None:
    """`find_converge` on a compiled scope."""
    nodes = scope.nodes
    return find_converge(fork.id, fork.targets, lambda n: nodes[n].targets,
                         lambda n: nodes[n].type == t.CONVERGE)


def _branch_nodes(scope: t.Scope, start: str, fork: t.Node, converge: str) -> tuple[set[str], str | None]:
    """Nodes of one branch up to the converge gateway, and a rule it breaks."""
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        node_id = queue.popleft()
        if node_id == converge or node_id in seen:
            continue
        if node_id == fork.id:
            return seen, "a branch leads back to its own parallel gateway"
        if node_id == scope.end_id:
            return seen, "a branch reaches the end event without passing its converge gateway"
        seen.add(node_id)
        queue.extend(scope.nodes[node_id].targets)
    return seen, None


def match_forks(scope: t.Scope, add: Add) -> None:
    """Each fork's branches meet at one converge gateway that collects only them, and share no node.

    Sets `converge_id` of every fork whose converge is found.
    """
    owner: dict[str, str] = {}
    for fork in scope.nodes.values():
        if fork.type not in t.FORK_TYPES:
            continue
        converge = scope_converge(scope, fork)
        if converge is None:
            add(f"{label(fork)}: its branches do not meet at one converge gateway")
            continue
        if fork.converge_id and fork.converge_id != converge:
            if fork.converge_id not in scope.nodes or scope.nodes[fork.converge_id].type != t.CONVERGE:
                add(f"{label(fork)}: converge_gateway_id {fork.converge_id} is not a converge gateway")
                continue
            add(f"{label(fork)}: converge_gateway_id {fork.converge_id} is not where its branches meet "
                f"({converge})")
            continue
        if converge in owner:
            add(f"ConvergeGateway {converge}: collects branches of two parallel gateways "
                f"({owner[converge]} and {fork.id})")
            continue
        owner[converge] = fork.id
        fork.converge_id = converge  # validation writes it into the web tree afterwards
        conv_node = scope.nodes[converge]
        if len(conv_node.incoming or [f for f, (_, tg) in scope.flows.items() if tg == converge]) < len(fork.targets):
            add(f"ConvergeGateway {converge}: has fewer incoming flows than {label(fork)} has branches")
        branch_of: dict[str, int] = {}
        for i, start in enumerate(fork.targets):
            nodes, broken = _branch_nodes(scope, start, fork, converge)
            if broken:
                add(f"{label(fork)}: {broken}")
                break
            shared = next((n for n in nodes if n in branch_of and branch_of[n] != i), None)
            if shared is not None:
                add(f"{label(scope.nodes[shared])}: reachable from two parallel branches of {label(fork)}")
                break
            branch_of.update(dict.fromkeys(nodes, i))


KIND = Kind(t.CONVERGE, enter, check_one_way)
