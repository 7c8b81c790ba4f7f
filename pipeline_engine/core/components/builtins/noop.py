"""`noop`: does nothing and succeeds. The unit of work of the benchmarks."""
from __future__ import annotations

from pipeline_engine.core.components.base import Component, ExecutionContext, Outcome
from pipeline_engine.core.components.registry import register


@register
class NoopComponent(Component):
    code = "noop"
    group = "BK"
    name = "No operation"
    inline = True

    def execute(self, ctx: ExecutionContext) -> Outcome:
        return Outcome.success()
