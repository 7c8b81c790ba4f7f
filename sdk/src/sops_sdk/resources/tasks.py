"""client.tasks: create, start, operate and read tasks."""
from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from ..models import STOP_STATES, CreatedTask, TaskDetail, TaskPage, TaskStatus, TaskStatusItem, TaskSummary
from ..waiting import poll_status
from ._base import Resource, params


class Tasks(Resource):
    def create(self, *, template_id: int | str, bk_biz_id: int | str, name: str,
               constants: dict[str, Any] | None = None, flow_type: str | None = None,
               exclude_task_nodes_id: list[str] | None = None, template_source: str | None = None,
               description: str | None = None, callback_url: str | None = None,
               request_id: str | None = None) -> CreatedTask:
        """A task from a template (not started). `constants` maps `${key}` to a value; a repeated
        `request_id` answers the task it created the first time instead of a second one."""
        data = self._call("create_task", params(
            name=name, constants=constants, flow_type=flow_type, exclude_task_nodes_id=exclude_task_nodes_id,
            template_source=template_source, description=description, callback_url=callback_url,
            request_id=request_id,
        ), {"template_id": template_id, "bk_biz_id": bk_biz_id})
        return CreatedTask.from_data(data)

    def create_and_start(self, *, template_id: int | str, bk_biz_id: int | str, name: str,
                         constants: dict[str, Any] | None = None, flow_type: str | None = None,
                         exclude_task_nodes_id: list[str] | None = None, template_source: str | None = None,
                         description: str | None = None, callback_url: str | None = None,
                         request_id: str | None = None) -> CreatedTask:
        """create and start in one transaction."""
        data = self._call("create_and_start_task", params(
            name=name, constants=constants, flow_type=flow_type, exclude_task_nodes_id=exclude_task_nodes_id,
            template_source=template_source, description=description, callback_url=callback_url,
            request_id=request_id,
        ), {"template_id": template_id, "bk_biz_id": bk_biz_id})
        return CreatedTask.from_data(data)

    def start(self, *, task_id: int | str, bk_biz_id: int | str) -> None:
        self._call("start_task", {}, {"task_id": task_id, "bk_biz_id": bk_biz_id})

    def operate(self, *, task_id: int | str, bk_biz_id: int | str, action: str) -> None:
        """action: start, pause, resume or revoke."""
        self._call("operate_task", {"action": action}, {"task_id": task_id, "bk_biz_id": bk_biz_id})

    def pause(self, *, task_id: int | str, bk_biz_id: int | str) -> None:
        self.operate(task_id=task_id, bk_biz_id=bk_biz_id, action="pause")

    def resume(self, *, task_id: int | str, bk_biz_id: int | str) -> None:
        self.operate(task_id=task_id, bk_biz_id=bk_biz_id, action="resume")

    def revoke(self, *, task_id: int | str, bk_biz_id: int | str) -> None:
        self.operate(task_id=task_id, bk_biz_id=bk_biz_id, action="revoke")

    def status(self, *, task_id: int | str, bk_biz_id: int | str) -> TaskStatus:
        data = self._call("get_task_status", {}, {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return TaskStatus.from_data(data)

    def detail(self, *, task_id: int | str, bk_biz_id: int | str) -> TaskDetail:
        data = self._call("get_task_detail", {}, {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return TaskDetail.from_data(data)

    def list(self, *, bk_biz_id: int | str, offset: int | None = None, limit: int | None = None,
             keyword: str | None = None, creator: str | None = None, executor: str | None = None,
             state: str | None = None, is_started: bool | None = None, is_finished: bool | None = None,
             template_id: int | None = None, create_method: str | None = None,
             create_time_start: str | None = None, create_time_end: str | None = None) -> TaskPage:
        """get_task_list: one page (limit at most 200), newest first."""
        envelope = self._envelope("get_task_list", params(
            offset=offset, limit=limit, keyword=keyword, creator=creator, executor=executor, state=state,
            is_started=is_started, is_finished=is_finished, template_id=template_id, create_method=create_method,
            create_time_start=create_time_start, create_time_end=create_time_end,
        ), {"bk_biz_id": bk_biz_id})
        return TaskPage(items=[TaskSummary.from_data(item) for item in envelope.get("data") or []],
                        count=envelope.get("count"))

    def statuses(self, *, bk_biz_id: int | str, task_ids: Iterable[int | str],
                 include_children: bool = False) -> list[TaskStatusItem]:
        """get_tasks_status: up to 50 tasks at once (ids of other businesses are left out)."""
        data = self._call("get_tasks_status",
                          {"task_id_list": [int(t) for t in task_ids], "include_children_status": include_children},
                          {"bk_biz_id": bk_biz_id})
        return [TaskStatusItem.from_data(item) for item in data]

    def preview_tree(self, *, template_id: int | str, bk_biz_id: int | str,
                     exclude_task_nodes_id: list[str] | None = None,
                     template_source: str | None = None) -> dict[str, Any]:
        """The pipeline_tree a task would get with these nodes excluded."""
        data = self._call("preview_task_tree", params(exclude_task_nodes_id=exclude_task_nodes_id or [],
                                                      template_source=template_source),
                          {"bk_biz_id": bk_biz_id, "template_id": template_id})
        return data["pipeline_tree"]

    def claim(self, *, task_id: int | str, bk_biz_id: int | str, name: str | None = None,
              constants: dict[str, Any] | None = None) -> dict[str, Any]:
        """claim_functionalization_task: make a common_func task startable."""
        return self._call("claim_functionalization_task", params(name=name, constants=constants),
                          {"task_id": task_id, "bk_biz_id": bk_biz_id})

    def wait(self, *, task_id: int | str, bk_biz_id: int | str, timeout: float = 300.0,
             until: Collection[str] = STOP_STATES, first_interval: float = 0.2, longest_interval: float = 5.0,
             factor: float = 1.5) -> TaskStatus:
        """Poll get_task_status, waiting first_interval then factor times longer each time (at most
        longest_interval), until the state is in `until` (FINISHED, FAILED or REVOKED by default).

        Raises WaitTimeout (a TimeoutError carrying `last_status`) after `timeout` seconds.
        """
        return poll_status(lambda: self.status(task_id=task_id, bk_biz_id=bk_biz_id), timeout=timeout,
                           until=until, first_interval=first_interval, factor=factor,
                           longest_interval=longest_interval)
