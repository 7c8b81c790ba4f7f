"""Plain records the walker reads and changes; the runtime maps them to rows."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import states as s

# Every field the runtime persists for a node, in one place so the store's
# bulk_update field list and the walker never disagree.
NODE_FIELDS = (
    "state", "version", "loop", "inner_loop", "retry", "skip", "error_ignored",
    "started_at", "finished_at", "inputs", "outputs", "ex_data", "inputs_override",
    "phase", "schedule_count", "comp_state", "wake_at", "lease_until", "deadline",
    "nudged_at", "callback_data", "callback_status",
)


@dataclass
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
