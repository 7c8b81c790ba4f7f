"""The log endpoints (later-endpoints.md §8): what a node's component logged during one attempt, as plain
text (get_task_node_log) or as the original's plugin-service lines (get_task_plugin_log)."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from sops_api.apigw.envelope import ok
from sops_api.apigw.serializers import task_inspection as io
from sops_api.apigw.views import ApigwView
from sops_api.logs import redact_text
from tasks_app import inspection, selectors

TAGS = ["task inspection"]


class TaskNodeLogView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.NodeLogInput
    output_serializer = io.NODE_LOG_DATA
    envelope_extra = {"page": {"type": "object", "example": {}, "description": "always {}: one answer holds the "
                                                                                "whole attempt's log"}}

    @extend_schema(summary="What a node's component logged during one attempt", tags=TAGS,
                   description="The latest attempt unless `version` names another. One attempt keeps at most "
                               "SOPS_NODE_LOG_MAX_CHARS characters; past them a last line says the log was "
                               "truncated. Errors: `[API] get_task_node_log node_id is required` (3540000); the "
                               "task, the node or the version is not found (3540400).")
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = selectors.get_task(self.business, task_id)
        log = inspection.node_log(task, self.input["node_id"], self.input["version"])
        return ok(redact_text(log["text"]), page={})


class TaskPluginLogView(ApigwView):
    http_method_names = ["get"]
    input_serializer = io.PluginLogInput
    output_serializer = io.PluginLog

    @extend_schema(summary="A plugin run's log lines, in the original's plugin-service shape", tags=TAGS,
                   description="`trace_id` is the node's outputs.trace_id when its component sets one, else the "
                               "node attempt's version. Errors, in this order: node_id, trace_id or plugin_code "
                               "missing (3540000); the task or node is not found, the node has not run, the "
                               "trace_id or plugin_code is not the node's (3540400).")
    def get(self, request, task_id: str, bk_biz_id: str) -> JsonResponse:
        task = selectors.get_task(self.business, task_id)
        given = self.input
        data = inspection.plugin_log(task, given["node_id"], given["trace_id"], given["plugin_code"])
        return ok({**data, "logs": redact_text(data["logs"])})
