"""client.nodes: one node of a task: its detail, callbacks and operations."""
from __future__ import annotations

from typing import Any

from ..models import NodeDetail
from ._base import Resource, params


class Nodes(Resource):
    def detail(self, *, task_id: int | str, bk_biz_id: int | str, node_id: str,
               component_code: str | None = None, subprocess_stack: list[str] | None = None) -> NodeDetail:
        """get_task_node_detail; subprocess_stack lists the subprocess node ids above a node inside one."""
        data = self._call("get_task_node_detail", params(node_id=node_id, component_code=component_code,
                                                         subprocess_stack=subprocess_stack),
                          {"task_id": task_id, "bk_biz_id": bk_biz_id})
        return NodeDetail.from_data(data)

    def callback(self, *, task_id: int | str, bk_biz_id: int | str, node_id: str, callback_data: Any = None,
                 version: str | None = None) -> None:
        """node_callback: wake a node waiting for a callback (a pause_node, for instance)."""
        self._call("node_callback", params(node_id=node_id, callback_data=callback_data, version=version),
                   {"task_id": task_id, "bk_biz_id": bk_biz_id})

    def operate(self, *, task_id: int | str, bk_biz_id: int | str, node_id: str, action: str,
                data: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
                flow_id: str | None = None) -> None:
        """operate_node: retry, skip, skip_exg (with flow_id), callback, pause_subproc, resume_subproc,
        forced_fail."""
        self._call("operate_node", params(node_id=node_id, action=action, data=data, inputs=inputs,
                                          flow_id=flow_id),
                   {"bk_biz_id": bk_biz_id, "task_id": task_id})

    def retry(self, *, task_id: int | str, bk_biz_id: int | str, node_id: str,
              inputs: dict[str, Any] | None = None) -> None:
        self.operate(task_id=task_id, bk_biz_id=bk_biz_id, node_id=node_id, action="retry", inputs=inputs)

    def skip(self, *, task_id: int | str, bk_biz_id: int | str, node_id: str) -> None:
        self.operate(task_id=task_id, bk_biz_id=bk_biz_id, node_id=node_id, action="skip")
