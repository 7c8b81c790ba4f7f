"""Plain records the walker reads and changes (node records, the run's data, effects);
the runtime maps them to rows and messages.

NodeRecord's methods are the resets every node kind and operation shares
(timers, callback bookkeeping, failure flags), so each is written once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import states as s

# Every field the runtime persists for a node, in one place so the runtime's
# row writes and the walker never disagree.
NODE_FIELDS = (
    "state", "version", "loop", "inner_loop", "retry", "skip", "error_ignored",
    "started_at", "finished_at", "inputs", "outputs", "ex_data", "inputs_override",
    "phase", "schedule_count", "comp_state", "wake_at", "lease_until", "deadline",
    "nudged_at", "callback_data", "callback_status",
)

# How a token in the frontier's ready list enters its node.
ENTER = "enter"
RETRY = "retry"


# slots (here and on Effect): a walk makes a record and an effect or two per node it enters,
# and reads their fields many times; slotted instances are built and read faster.
@dataclass(slots=True)
class NodeRecord:
    key: str
    scope: str
    node_id: str
    node_type: str
    component_code: str = ""
    name: str = ""
    state: str = s.READY
    version: str = ""
    loop: int = 1
    inner_loop: int = 1
    retry: int = 0
    skip: bool = False
    error_ignored: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    ex_data: str | None = None
    inputs_override: dict[str, Any] | None = None
    phase: str = s.PHASE_NONE
    schedule_count: int = 0
    comp_state: dict[str, Any] = field(default_factory=dict)
    wake_at: datetime | None = None
    lease_until: datetime | None = None
    deadline: datetime | None = None
    nudged_at: datetime | None = None
    callback_data: Any = None
    callback_status: str = s.CB_NONE
    row_id: int | None = None  # the database row, once it exists

    def history_entry(self) -> dict[str, Any]:
        return {
            "key": self.key, "node_id": self.node_id, "version": self.version,
            "loop": self.loop, "retry": self.retry, "skip": self.skip, "state": self.state,
            "inputs": self.inputs, "outputs": self.outputs, "ex_data": self.ex_data,
            "started_at": self.started_at, "finished_at": self.finished_at,
        }

    def clear_timers(self) -> None:
        """No work is due, held or timed: the sweep has nothing to look at."""
        self.wake_at = self.lease_until = self.deadline = self.nudged_at = None

    def clear_callback(self) -> None:
        self.callback_data, self.callback_status = None, s.CB_NONE

    def start(self, now: datetime) -> None:
        self.state = s.RUNNING
        self.started_at = now
        self.finished_at = None

    def end(self, state: str, now: datetime) -> None:
        """Done (FINISHED or REVOKED): nothing of it is due any more."""
        self.state = state
        self.finished_at = now
        self.phase = s.PHASE_NONE
        self.clear_timers()

    def fail(self, ex_data: str, now: datetime) -> None:
        self.state = s.FAILED
        self.ex_data = ex_data
        self.finished_at = now
        self.phase = s.PHASE_NONE
        self.clear_timers()

    def reenter(self, version: str) -> None:
        """A new pass through a loop: counters move on, everything of the last pass is cleared."""
        self.loop += 1
        self.inner_loop += 1
        self.retry = 0
        self.skip = False
        self.error_ignored = False
        self.version = version
        self.inputs, self.outputs, self.ex_data = {}, {}, None
        self.phase, self.schedule_count, self.comp_state = s.PHASE_NONE, 0, {}
        self.clear_callback()
        self.clear_timers()


@dataclass
class RunData:
    """The parts of a run row the walker reads and changes."""

    run_id: str
    state: str
    frontier: dict[str, Any]
    context: dict[str, Any]  # scope path -> stored ScopeContext dict
    outputs: dict[str, Any] = field(default_factory=dict)
    time_zone: str = "UTC"
    executor: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        for name, default in (("ready", list), ("active", dict), ("joins", dict), ("seen", dict),
                              ("paused", list)):
            self.frontier.setdefault(name, default())


@dataclass(slots=True)
class Effect:
    """Something to do after commit."""

    kind: str  # "component" | "event" | "advance" | "finished"
    key: str = ""
    version: str = ""
    schedule_count: int = 0
    countdown: float = 0.0
    event: str = ""  # for kind "event": "timeout" | "auto_retry"
    state: str = ""  # for kind "finished"
