"""`bench_poll`: a polling node that finishes on its first poll.

It exercises the whole non-inline path (own task, poll, report back) with
no real work, which is what the benchmarks measure.
"""
from __future__ import annotations

from typing import Any

from pipeline_engine.core.components.base import Component, ExecutionContext, Outcome
from pipeline_engine.core.components.registry import register


@register
class BenchPollComponent(Component):
    code = "bench_poll"
    name = "Benchmark poll (debug)"
    inline = False

    def execute(self, ctx: ExecutionContext) -> Outcome:
        return Outcome.poll(0)

    def schedule(self, ctx: ExecutionContext, callback_data: Any = None) -> Outcome:
        return Outcome.success()
