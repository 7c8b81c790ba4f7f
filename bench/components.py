"""Components only the benchmarks and the tests load (through SOPS_COMPONENT_MODULES or an import).

`bench_poll`: a polling node that finishes on its first poll. It exercises the
whole non-inline path (own task, poll, report back) with no real work, which
is what the benchmarks measure. It is not in the production registry.
"""
from __future__ import annotations

from typing import Any

from pipeline_engine.core.components import Component, ExecutionContext, Outcome, register


@register
class BenchPollComponent(Component):
    code = "bench_poll"
    name = "Benchmark poll (debug)"
    inline = False

    def execute(self, ctx: ExecutionContext) -> Outcome:
        return Outcome.poll(0)

    def schedule(self, ctx: ExecutionContext, callback_data: Any = None) -> Outcome:
        return Outcome.success()
