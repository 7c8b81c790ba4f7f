"""Components only the tests use. The test worker imports this module.

It also loads bench_poll (bench/components.py), which many engine tests run.

- test_sleep (slow): sleeps `seconds`, checking its stop flag every 20 ms;
  writes "start <t>" / "stop <t>" / "end <t>" lines to `marker` when given, so a
  test can prove two nodes overlapped or that a node was told to stop.
- test_fail (inline): fails with `message`, outputs `partial`.
- test_flaky (slow): fails until it has been executed `fail_times` times
  (counted in the file `counter`).
- test_wait (slow): pause_node's behaviour in a worker: waits for a callback and
  outputs its data. The tests of the callback's worker path use it, since
  pause_node itself is inline.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bench.components  # noqa: F401 - registers bench_poll here and in the test worker
from pipeline_engine.core.components import (
    Component,
    ExecutionContext,
    FieldSpec,
    Outcome,
    register,
    unregister,
)


def _mark(path: str | None, text: str) -> None:
    if path:
        with open(path, "a") as fh:
            fh.write(f"{text} {time.time():.4f}\n")


class TestSleep(Component):
    code = "test_sleep"
    name = "Test sleep"
    inline = False
    inputs_format = [FieldSpec("seconds", "Seconds", "float"), FieldSpec("marker", "Marker file")]
    outputs_format = [FieldSpec("slept", "Slept", "float")]

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        seconds = float(ctx.inputs.get("seconds") or 0)
        marker = ctx.inputs.get("marker")
        _mark(marker, f"start {ctx.node_id}")
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            if ctx.should_stop():
                _mark(marker, f"stop {ctx.node_id}")
                return Outcome.failure("stopped")
            time.sleep(0.02)
        _mark(marker, f"end {ctx.node_id}")
        ctx.outputs["slept"] = seconds
        return Outcome.success()


class TestFail(Component):
    code = "test_fail"
    name = "Test fail"
    inline = True
    outputs_format = [FieldSpec("partial", "Partial")]

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        ctx.outputs["partial"] = ctx.inputs.get("partial", "p")
        return Outcome.failure(str(ctx.inputs.get("message") or "failed on purpose"))


class TestFlaky(Component):
    code = "test_flaky"
    name = "Test flaky"
    inline = False

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        counter = Path(ctx.inputs["counter"])
        count = int(counter.read_text() or 0) + 1 if counter.exists() else 1
        counter.write_text(str(count))
        if count <= int(ctx.inputs.get("fail_times", 1)):
            return Outcome.failure(f"attempt {count} fails")
        ctx.outputs["attempts"] = count
        return Outcome.success()


class TestWait(Component):
    code = "test_wait"
    name = "Test wait"
    inline = False
    outputs_format = [FieldSpec("callback_data", "Callback data", "object")]

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        return Outcome.wait_callback()

    def schedule(self, ctx, callback_data=None):  # type: ignore[no-untyped-def]
        ctx.outputs["callback_data"] = callback_data
        return Outcome.success()


TEST_COMPONENTS = [TestSleep, TestFail, TestFlaky, TestWait]

for _component in TEST_COMPONENTS:
    register(_component)


@contextmanager
def inline_logger(code: str, message: str = "ran {node_id}") -> Iterator[str]:
    """An inline component `code`, registered for the block, that logs `message` (its node's id put in
    for {node_id}) and succeeds: a first step that writes log rows besides its node rows."""

    class InlineLogger(Component):
        inline = True

        def execute(self, ctx: ExecutionContext) -> Outcome:
            ctx.log.info(message.format(node_id=ctx.node_id))
            return Outcome.success()

    InlineLogger.code = code
    register(InlineLogger)
    try:
        yield code
    finally:
        unregister(code)
