"""client.counts: task statistics of a business."""
from __future__ import annotations

from typing import Any

from ..models import TaskCount
from ._base import Resource, params


class Counts(Resource):
    def tasks(self, *, bk_biz_id: int | str, group_by: str,
              conditions: dict[str, Any] | None = None) -> TaskCount:
        """query_task_count: group_by is status, category, flow_type or create_method; conditions filter
        (template_id, name, creator, executor, create_time__gte/__lte, start_time__gte/__lte, is_started,
        is_finished)."""
        data = self._call("query_task_count", params(group_by=group_by, conditions=conditions),
                          {"bk_biz_id": bk_biz_id})
        return TaskCount.from_data(data)
