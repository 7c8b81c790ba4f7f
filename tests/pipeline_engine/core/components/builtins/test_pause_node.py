"""pause_node: waits for a callback and outputs its data."""
from __future__ import annotations

from pipeline_engine.core.components import ExecutionContext, Outcome, get_component


def make_ctx(inputs=None, **kwargs) -> ExecutionContext:
    return ExecutionContext(run_id="run", node_id="node", inputs=dict(inputs or {}), **kwargs)


def test_pause_node_waits_for_a_callback_and_outputs_its_data():
    component = get_component("pause_node")()
    ctx = make_ctx()
    assert component.execute(ctx) == Outcome.wait_callback()
    # A fresh instance serves the callback, as the engine does.
    data = {"approved": True, "by": "alice"}
    assert get_component("pause_node")().schedule(ctx, data) == Outcome.success()
    assert ctx.outputs == {"callback_data": data}
