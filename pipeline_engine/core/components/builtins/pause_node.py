"""`pause_node`: waits for a callback; the callback's data becomes an output."""
from __future__ import annotations

from typing import Any

from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from pipeline_engine.core.components.registry import register


@register
class PauseNodeComponent(Component):
    code = "pause_node"
    group = "BK"
    name = "Pause"
    inline = True
    outputs_format = [
        FieldSpec("callback_data", "Callback data", "object",
                  description="The data sent with the callback that resumed the node."),
    ]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        ctx.log.info("waiting for a callback (node_callback, or operate_node with action callback)")
        return Outcome.wait_callback()

    def schedule(self, ctx: ExecutionContext, callback_data: Any = None) -> Outcome:
        ctx.outputs["callback_data"] = callback_data
        ctx.log.info("callback received (%s): resuming", type(callback_data).__name__)
        return Outcome.success()
