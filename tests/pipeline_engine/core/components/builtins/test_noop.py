"""noop: succeeds at once, writes nothing."""
from __future__ import annotations

from pipeline_engine.core.components import ExecutionContext, Outcome, get_component


def make_ctx(inputs=None, **kwargs) -> ExecutionContext:
    return ExecutionContext(run_id="run", node_id="node", inputs=dict(inputs or {}), **kwargs)


def test_noop_succeeds_and_writes_nothing():
    ctx = make_ctx({"anything": 1})
    assert get_component("noop")().execute(ctx) == Outcome.success()
    assert ctx.outputs == {}
