"""bench/components.py: bench_poll, a component only the benchmarks and the tests load."""
from __future__ import annotations

import bench.components  # noqa: F401 - registers bench_poll, as the benchmark's processes do
from pipeline_engine.core.components import ExecutionContext, Outcome, get_component


def make_ctx() -> ExecutionContext:
    return ExecutionContext(run_id="run", node_id="node", inputs={})


def test_bench_poll_polls_once_then_succeeds():
    component = get_component("bench_poll")()
    ctx = make_ctx()
    assert component.execute(ctx) == Outcome.poll(0)
    assert component.schedule(ctx) == Outcome.success()


def test_bench_poll_comes_from_bench_not_from_the_builtins():
    import pipeline_engine.core.components.builtins as builtins

    assert get_component("bench_poll").__module__ == "bench.components"
    assert not hasattr(builtins, "bench_poll")
