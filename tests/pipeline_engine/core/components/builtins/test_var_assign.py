"""var_assign: copies its inputs to its outputs."""
from __future__ import annotations

from pipeline_engine.core.components import ExecutionContext, Outcome, get_component


def make_ctx(inputs=None, **kwargs) -> ExecutionContext:
    return ExecutionContext(run_id="run", node_id="node", inputs=dict(inputs or {}), **kwargs)


def test_var_assign_copies_inputs_to_outputs():
    inputs = {"a": 1, "b": [1, 2], "c": {"k": "v"}}
    ctx = make_ctx(inputs)
    assert get_component("var_assign")().execute(ctx) == Outcome.success()
    assert ctx.outputs == inputs
