"""`var_assign`: copies every (rendered) input to an output of the same key.

With `source_type: component_outputs` constants this sets global variables
from other variables or expressions without running anything.
"""
from __future__ import annotations

from pipeline_engine.core.components.base import Component, ExecutionContext, Outcome
from pipeline_engine.core.components.registry import register


@register
class VarAssignComponent(Component):
    code = "var_assign"
    group = "BK"
    name = "Assign variables"
    inline = True

    def execute(self, ctx: ExecutionContext) -> Outcome:
        ctx.outputs.update(ctx.inputs)
        return Outcome.success()
