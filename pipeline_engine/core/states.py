"""Node and run states, and the state a reader is shown.

CREATED is never stored: a node that has not been reached has no row, and a
run that exists has been started. The displayed states FAILED and
NODE_SUSPENDED for a run are derived (the run itself keeps RUNNING while a
node waits for an operator).
"""
from __future__ import annotations

from collections.abc import Collection

CREATED = "CREATED"
READY = "READY"
RUNNING = "RUNNING"
SUSPENDED = "SUSPENDED"
NODE_SUSPENDED = "NODE_SUSPENDED"
FINISHED = "FINISHED"
FAILED = "FAILED"
REVOKED = "REVOKED"

RUN_ENDED = frozenset({FINISHED, REVOKED})
NODE_ENDED = frozenset({FINISHED, REVOKED})

# Phases of a RUNNING (or auto-retry-waiting FAILED) ServiceActivity: what the
# next message for it must do.
PHASE_NONE = ""
PHASE_EXECUTE = "execute"
PHASE_POLL = "poll"
PHASE_CALLBACK = "callback"
PHASE_RETRY_WAIT = "retry_wait"

# Callback bookkeeping of a node waiting for (or about to wait for) one.
CB_NONE = ""
CB_PENDING = "pending"   # arrived before the node waited; applied when it does
CB_QUEUED = "queued"     # a schedule message carries it
CB_APPLIED = "applied"


def display_state(state: str, inner_states: Collection[str]) -> str:
    """The state a reader sees of a run (or a subprocess), given the states of the nodes
    inside it: a RUNNING one shows FAILED while a node waits failed, NODE_SUSPENDED while
    one is paused (or shows NODE_SUSPENDED itself), else its own state."""
    if state != RUNNING:
        return state
    if FAILED in inner_states:
        return FAILED
    if SUSPENDED in inner_states or NODE_SUSPENDED in inner_states:
        return NODE_SUSPENDED
    return RUNNING
