"""The typed layer's answers: dataclasses built from the `data` of the gateway's envelopes.

Each model names the fields the spec documents, with times parsed to aware
datetimes (None for an empty time), and keeps the whole answer in `raw`, so a
field the service adds later is never out of reach.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Task and node states (spec: get_task_status, get_task_node_detail).
CREATED = "CREATED"
RUNNING = "RUNNING"
SUSPENDED = "SUSPENDED"
FAILED = "FAILED"
FINISHED = "FINISHED"
REVOKED = "REVOKED"
# States after which a task does not move on by itself: done, revoked, or a node
# failed (a FAILED task waits for an operator's retry or skip).
STOP_STATES = frozenset({FINISHED, FAILED, REVOKED})

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S")


def parse_time(value: Any) -> datetime | None:
    """A gateway time (`YYYY-mm-dd HH:MM:SS +zzzz`) as a datetime; None for "" or null."""
    if not value or not isinstance(value, str):
        return None
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError(f"unexpected time format: {value!r}")


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass(kw_only=True)
class TemplateSummary:
    """An item of get_template_list."""

    id: int
    name: str
    category: str
    bk_biz_id: str | None
    bk_biz_name: str | None
    creator: str
    create_time: datetime | None
    editor: str | None
    edit_time: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _values(cls, data: dict[str, Any]) -> dict[str, Any]:
        return dict(
            id=int(data["id"]), name=data.get("name", ""), category=data.get("category", ""),
            bk_biz_id=data.get("bk_biz_id"), bk_biz_name=data.get("bk_biz_name"),
            creator=data.get("creator", ""), create_time=parse_time(data.get("create_time")),
            editor=data.get("editor"), edit_time=parse_time(data.get("edit_time")), raw=data,
        )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TemplateSummary:
        return cls(**cls._values(data))


@dataclass(kw_only=True)
class Template(TemplateSummary):
    """get_template_info: a template with its pipeline_tree."""

    pipeline_tree: dict[str, Any]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Template:
        return cls(**cls._values(data), pipeline_tree=data.get("pipeline_tree") or {})

    @property
    def constants(self) -> dict[str, Any]:
        """The global variables, keyed `${name}`."""
        return self.pipeline_tree.get("constants") or {}


def activity_ids(pipeline_tree: dict[str, Any], *, component_code: str | None = None,
                 name: str | None = None) -> list[str]:
    """Ids of a tree's activities, optionally only those of one component or with one name."""
    found = []
    for node_id, activity in (pipeline_tree.get("activities") or {}).items():
        code = (activity.get("component") or {}).get("code")
        if component_code is not None and code != component_code:
            continue
        if name is not None and activity.get("name") != name:
            continue
        found.append(node_id)
    return found


@dataclass(kw_only=True)
class CreatedTask:
    """create_task / create_and_start_task: the new task's id, link and tree (node ids regenerated)."""

    task_id: int
    task_url: str
    pipeline_tree: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CreatedTask:
        return cls(task_id=int(data["task_id"]), task_url=data.get("task_url", ""),
                   pipeline_tree=data.get("pipeline_tree") or {}, raw=data)

    def node_id(self, *, component_code: str | None = None, name: str | None = None) -> str:
        """The id of the one activity with this component and/or name (ValueError unless exactly one)."""
        ids = activity_ids(self.pipeline_tree, component_code=component_code, name=name)
        if len(ids) != 1:
            raise ValueError(f"{len(ids)} activities match component_code={component_code!r} name={name!r}")
        return ids[0]


@dataclass(kw_only=True)
class TaskStatus:
    """get_task_status: the state of a task, or of one node in `children` (same shape, nested)."""

    id: str
    state: str
    name: str = ""
    retry: int = 0
    skip: bool = False
    loop: int = 1
    version: str = ""
    start_time: datetime | None = None
    finish_time: datetime | None = None
    elapsed_time: int | None = None
    children: dict[str, TaskStatus] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TaskStatus:
        return cls(
            id=str(data.get("id") or ""), state=data.get("state", ""), name=data.get("name") or "",
            retry=int(data.get("retry") or 0), skip=bool(data.get("skip")), loop=int(data.get("loop") or 1),
            version=data.get("version") or "", start_time=parse_time(data.get("start_time")),
            finish_time=parse_time(data.get("finish_time")), elapsed_time=_int(data.get("elapsed_time")),
            children={k: cls.from_data(v) for k, v in (data.get("children") or {}).items()}, raw=data,
        )

    @property
    def is_stopped(self) -> bool:
        """FINISHED, FAILED or REVOKED: the task will not move on by itself."""
        return self.state in STOP_STATES

    def find(self, node_id: str) -> TaskStatus | None:
        """The status of a node anywhere below this one (subprocesses included), or None if not reached."""
        if node_id in self.children:
            return self.children[node_id]
        for child in self.children.values():
            found = child.find(node_id)
            if found is not None:
                return found
        return None


@dataclass(kw_only=True)
class Output:
    """One output of a task or a node."""

    key: str
    name: str
    value: Any
    preset: bool | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Output:
        return cls(key=data.get("key", ""), name=data.get("name", ""), value=data.get("value"),
                   preset=data.get("preset"))


def _outputs(raw: Any) -> list[Output]:
    if isinstance(raw, dict):  # histories give outputs as a key: value map
        return [Output(key=k, name=k, value=v) for k, v in raw.items()]
    return [Output.from_data(item) for item in raw or [] if isinstance(item, dict)]


@dataclass(kw_only=True)
class TaskDetail:
    """get_task_detail."""

    id: int
    name: str
    business_id: int | None
    business_name: str | None
    template_id: int | None
    create_method: str
    creator: str
    executor: str
    create_time: datetime | None
    start_time: datetime | None
    finish_time: datetime | None
    elapsed_time: int | None
    constants: dict[str, Any]
    outputs: list[Output]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TaskDetail:
        return cls(
            id=int(data["id"]), name=data.get("name", ""), business_id=_int(data.get("business_id")),
            business_name=data.get("business_name"), template_id=_int(data.get("template_id")),
            create_method=data.get("create_method", ""), creator=data.get("creator", ""),
            executor=data.get("executor") or "", create_time=parse_time(data.get("create_time")),
            start_time=parse_time(data.get("start_time")), finish_time=parse_time(data.get("finish_time")),
            elapsed_time=_int(data.get("elapsed_time")), constants=data.get("constants") or {},
            outputs=_outputs(data.get("outputs")), raw=data,
        )

    def output(self, key: str) -> Any:
        """The value of one output (KeyError if the task has no such output)."""
        for item in self.outputs:
            if item.key == key:
                return item.value
        raise KeyError(key)


@dataclass(kw_only=True)
class TaskSummary:
    """An item of get_task_list."""

    id: int
    name: str
    template_id: int | None
    flow_type: str
    current_flow: str
    create_method: str
    creator: str
    executor: str
    create_time: datetime | None
    start_time: datetime | None
    finish_time: datetime | None
    is_started: bool
    is_finished: bool
    is_revoked: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TaskSummary:
        return cls(
            id=int(data["id"]), name=data.get("name", ""), template_id=_int(data.get("template_id")),
            flow_type=data.get("flow_type", ""), current_flow=data.get("current_flow", ""),
            create_method=data.get("create_method", ""), creator=data.get("creator", ""),
            executor=data.get("executor") or "", create_time=parse_time(data.get("create_time")),
            start_time=parse_time(data.get("start_time")), finish_time=parse_time(data.get("finish_time")),
            is_started=bool(data.get("is_started")), is_finished=bool(data.get("is_finished")),
            is_revoked=bool(data.get("is_revoked")), raw=data,
        )


@dataclass(kw_only=True)
class TaskPage:
    """get_task_list: one page of tasks, newest first; `count` is the total (None with without_count)."""

    items: list[TaskSummary]
    count: int | None


@dataclass(kw_only=True)
class TaskStatusItem:
    """An item of get_tasks_status."""

    id: int
    name: str
    flow_type: str
    current_flow: str
    is_started: bool
    is_finished: bool
    status: TaskStatus
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TaskStatusItem:
        return cls(id=int(data["id"]), name=data.get("name", ""), flow_type=data.get("flow_type", ""),
                   current_flow=data.get("current_flow", ""), is_started=bool(data.get("is_started")),
                   is_finished=bool(data.get("is_finished")),
                   status=TaskStatus.from_data(data.get("status") or {}), raw=data)


@dataclass(kw_only=True)
class NodeDetail:
    """get_task_node_detail: a node's last execution, with its inputs, outputs and earlier attempts."""

    id: str
    name: str
    state: str
    component_code: str
    retry: int
    skip: bool
    loop: int
    version: str
    start_time: datetime | None
    finish_time: datetime | None
    elapsed_time: int | None
    inputs: dict[str, Any]
    outputs: list[Output]
    ex_data: Any
    histories: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> NodeDetail:
        return cls(
            id=str(data.get("id") or ""), name=data.get("name") or "", state=data.get("state", ""),
            component_code=data.get("component_code") or "", retry=int(data.get("retry") or 0),
            skip=bool(data.get("skip")), loop=int(data.get("loop") or 1), version=data.get("version") or "",
            start_time=parse_time(data.get("start_time")), finish_time=parse_time(data.get("finish_time")),
            elapsed_time=_int(data.get("elapsed_time")), inputs=data.get("inputs") or {},
            outputs=_outputs(data.get("outputs")), ex_data=data.get("ex_data"),
            histories=list(data.get("histories") or []), raw=data,
        )


@dataclass(kw_only=True)
class CountGroup:
    code: str
    name: str
    value: int


@dataclass(kw_only=True)
class TaskCount:
    """query_task_count: the total and one group per value of `group_by`."""

    total: int
    groups: list[CountGroup]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TaskCount:
        groups = [CountGroup(code=str(g.get("code")), name=g.get("name", ""), value=int(g.get("value") or 0))
                  for g in data.get("groups") or []]
        return cls(total=int(data.get("total") or 0), groups=groups, raw=data)

    def by_code(self) -> dict[str, int]:
        return {group.code: group.value for group in self.groups}


@dataclass(kw_only=True)
class PeriodicTaskSummary:
    """An item of get_periodic_task_list."""

    id: int
    name: str
    template_id: int | None
    cron: str
    enabled: bool
    creator: str
    last_run_at: datetime | None
    total_run_count: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _values(cls, data: dict[str, Any]) -> dict[str, Any]:
        return dict(
            id=int(data["id"]), name=data.get("name", ""), template_id=_int(data.get("template_id")),
            cron=data.get("cron", ""), enabled=bool(data.get("enabled")), creator=data.get("creator", ""),
            last_run_at=parse_time(data.get("last_run_at")), total_run_count=int(data.get("total_run_count") or 0),
            raw=data,
        )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PeriodicTaskSummary:
        return cls(**cls._values(data))


@dataclass(kw_only=True)
class PeriodicTask(PeriodicTaskSummary):
    """get_periodic_task_info / create_periodic_task: with the form (constants) and the tree."""

    form: dict[str, Any]
    pipeline_tree: dict[str, Any]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PeriodicTask:
        return cls(**cls._values(data), form=data.get("form") or {}, pipeline_tree=data.get("pipeline_tree") or {})


@dataclass(kw_only=True)
class PeriodicRun:
    """An item of get_periodic_task_history: one firing (or a skipped one)."""

    id: int
    scheduled_time: datetime | None
    actual_time: datetime | None
    task_id: int | None
    success: bool
    skipped: bool
    reason: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PeriodicRun:
        return cls(id=int(data["id"]), scheduled_time=parse_time(data.get("scheduled_time")),
                   actual_time=parse_time(data.get("actual_time")), task_id=_int(data.get("task_id")),
                   success=bool(data.get("success")), skipped=bool(data.get("skipped")),
                   reason=data.get("reason") or "", raw=data)


@dataclass(kw_only=True)
class PeriodicHistory:
    """get_periodic_task_history: one page of firings, newest first."""

    count: int
    offset: int
    limit: int
    next_run_at: datetime | None
    results: list[PeriodicRun]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PeriodicHistory:
        return cls(count=int(data.get("count") or 0), offset=int(data.get("offset") or 0),
                   limit=int(data.get("limit") or 0), next_run_at=parse_time(data.get("next_run_at")),
                   results=[PeriodicRun.from_data(r) for r in data.get("results") or []])
