"""Which calls may be retried after a connection error, and how often: idempotent calls only.

A connection error can happen after the server received a request (the answer
was lost), so sending a write again could create a second task. Reads may be
sent again safely: every GET of the gateway, and the POST endpoints that only
read. An operation missing from READ_ONLY_POSTS is simply not retried.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST endpoints that read and never write (sops' views: query_task_count counts,
# get_tasks_status reads statuses, preview_task_tree computes a tree).
READ_ONLY_POSTS = frozenset({"query_task_count", "get_tasks_status", "preview_task_tree"})


def is_idempotent(operation: Any) -> bool:
    """True for an operation that may be sent twice with the effect of once."""
    return str(operation.method).upper() in SAFE_METHODS or operation.name in READ_ONLY_POSTS


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` more attempts after a connection error, waiting backoff * 2**n seconds (at most max_backoff)."""

    retries: int = 2
    backoff: float = 0.2
    max_backoff: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first retry)."""
        return min(self.max_backoff, self.backoff * (2 ** attempt))


NO_RETRY = RetryPolicy(retries=0)
