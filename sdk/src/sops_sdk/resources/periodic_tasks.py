"""client.periodic_tasks: templates run on a cron schedule."""
from __future__ import annotations

from typing import Any

from ..models import PeriodicHistory, PeriodicTask, PeriodicTaskSummary
from ._base import Resource, params


class PeriodicTasks(Resource):
    def list(self, *, bk_biz_id: int | str) -> list[PeriodicTaskSummary]:
        data = self._call("get_periodic_task_list", {}, {"bk_biz_id": bk_biz_id})
        return [PeriodicTaskSummary.from_data(item) for item in data]

    def get(self, *, task_id: int | str, bk_biz_id: int | str) -> PeriodicTask:
        data = self._call("get_periodic_task_info", {}, {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return PeriodicTask.from_data(data)

    def create(self, *, template_id: int | str, bk_biz_id: int | str, name: str, cron: dict[str, str],
               constants: dict[str, Any] | None = None, exclude_task_nodes_id: list[str] | None = None,
               template_source: str | None = None) -> PeriodicTask:
        """A periodic task, disabled. cron: minute, hour, day_of_week, day_of_month, month_of_year
        (each defaults to "*")."""
        data = self._call("create_periodic_task", params(
            name=name, cron=cron, constants=constants, exclude_task_nodes_id=exclude_task_nodes_id,
            template_source=template_source,
        ), {"template_id": template_id, "bk_biz_id": bk_biz_id})
        return PeriodicTask.from_data(data)

    def set_enabled(self, *, task_id: int | str, bk_biz_id: int | str, enabled: bool) -> bool:
        """Enable or disable; answers whether it is enabled now."""
        data = self._call("set_periodic_task_enabled", {"enabled": enabled},
                          {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return bool(data["enabled"])

    def modify_cron(self, *, task_id: int | str, bk_biz_id: int | str, cron: dict[str, str]) -> str:
        """Answers the new schedule as the service renders it ("*/5 * * * * (m/h/d/dM/MY)")."""
        data = self._call("modify_cron_for_periodic_task", {"cron": cron},
                          {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return str(data["cron"])

    def modify_constants(self, *, task_id: int | str, bk_biz_id: int | str,
                         constants: dict[str, Any]) -> dict[str, Any]:
        """Answers the periodic task's constants after the change, keyed `${key}`."""
        return self._call("modify_constants_for_periodic_task", {"constants": constants},
                          {"task_id": task_id, "bk_biz_id": bk_biz_id})

    def history(self, *, task_id: int | str, bk_biz_id: int | str, offset: int | None = None,
                limit: int | None = None) -> PeriodicHistory:
        data = self._call("get_periodic_task_history", params(offset=offset, limit=limit),
                          {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return PeriodicHistory.from_data(data)
