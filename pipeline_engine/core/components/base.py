"""The component (plugin) protocol.

A component is what a ServiceActivity runs. The engine calls `execute` once per
attempt; a component that needs more time answers `Outcome.poll(seconds)` (the
engine calls `schedule` again after that delay) or `Outcome.wait_callback()`
(the engine calls `schedule` with the callback's data when it arrives).

`inline = True` promises that execute/schedule are pure, fast and bounded: the
engine then runs them inside the advance step, under the run's lock, with no
extra message. Anything that may block (network, scripts, sleeps) must leave
`inline = False`; it runs in its own Celery task with no lock held.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pipeline_engine.core.components.node_log import NodeLogger

OutcomeKind = Literal["success", "failure", "poll", "callback"]


@dataclass(frozen=True)
class FieldSpec:
    key: str
    name: str
    type: str = "string"
    required: bool = False
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "type": self.type,
                "required": self.required, "description": self.description}


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    ex_data: str | None = None
    interval: float = 0.0

    @classmethod
    def success(cls) -> Outcome:
        return cls("success")

    @classmethod
    def failure(cls, ex_data: str) -> Outcome:
        return cls("failure", ex_data=ex_data)

    @classmethod
    def poll(cls, interval: float = 0.0) -> Outcome:
        return cls("poll", interval=max(0.0, float(interval)))

    @classmethod
    def wait_callback(cls) -> Outcome:
        return cls("callback")


@dataclass
class ExecutionContext:
    """What one call of execute/schedule sees and may change.

    `outputs` is filled by the component. `state` is a JSON-able dict the
    engine persists between execute and later schedule calls (a new component
    instance may serve each call). `stop_event` is set when the node is
    force-failed, times out or the run is revoked: long work should check
    `should_stop()` and give up. `log` takes the lines the node's log shows
    (get_task_node_log); the runtime stores them with this attempt (node_log.py).
    """

    run_id: str
    node_id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    time_zone: str = "UTC"
    executor: str = ""
    schedule_count: int = 0
    version: str = ""
    log: NodeLogger = field(default_factory=NodeLogger)
    _stop_event: threading.Event | None = field(default=None, repr=False, compare=False)

    @property
    def stop_event(self) -> threading.Event:
        """Made on first use: an inline node's call never looks at it, and an Event (a lock
        and a condition) cost more than a no-op node's whole execute."""
        if self._stop_event is None:
            self._stop_event = threading.Event()
        return self._stop_event

    def should_stop(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()


#: Display names of the groups the built-ins belong to, as the original's plugin list shows them.
GROUP_NAMES: dict[str, str] = {"BK": "蓝鲸服务(BK)", "JOB": "作业平台(JOB)"}
DEFAULT_GROUP = "Other"


class Component:
    code: ClassVar[str]
    version: ClassVar[str] = "legacy"
    name: ClassVar[str] = ""
    #: the plugin group's code (BK, JOB, or a plugin's own); `group_name` is its display name,
    #: GROUP_NAMES's for a known code, else the code itself
    group: ClassVar[str] = DEFAULT_GROUP
    group_name: ClassVar[str] = ""
    #: what the component does, for plugin lists
    description: ClassVar[str] = ""
    inline: ClassVar[bool] = False
    inputs_format: ClassVar[list[FieldSpec]] = []
    outputs_format: ClassVar[list[FieldSpec]] = []

    def execute(self, ctx: ExecutionContext) -> Outcome:
        raise NotImplementedError

    def schedule(self, ctx: ExecutionContext, callback_data: Any = None) -> Outcome:
        """Called after `poll` (callback_data None) or `wait_callback` (with data)."""
        return Outcome.failure(f"component {self.code} does not schedule")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "code": cls.code,
            "version": cls.version,
            "name": cls.name or cls.code,
            "group": cls.group or DEFAULT_GROUP,
            "group_name": cls.group_name or GROUP_NAMES.get(cls.group, cls.group or DEFAULT_GROUP),
            "description": cls.description,
            "inline": cls.inline,
            "inputs": [f.as_dict() for f in cls.inputs_format],
            "outputs": [f.as_dict() for f in cls.outputs_format],
        }
