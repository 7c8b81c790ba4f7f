"""Components the fault tests run, imported by the test process and by the workers they start.

Every execute/schedule call is recorded in the probe file (tests/faults/probe.py).

`faults_mark` and `faults_mark_slow` also check, when they run, that the
engine has not already finished their node: a finished node that runs again is
exactly what the kill test must never see.
"""
from __future__ import annotations

import faulthandler
import signal
import sys
import time
from typing import Any

import bench.components  # noqa: F401 - bench_poll, which the fault runs mix in
from pipeline_engine.core.components import register
from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from tests.faults.probe import probe

# How long a probe read waits for the database to come back (the restart test's outage is 2 s).
PROBE_DB_WAIT_SECONDS = 60


def _already_finished(ctx: ExecutionContext) -> bool:
    """Does the engine's committed (or this step's) state say this node already FINISHED?"""
    from django.db import connection

    from pipeline_engine import api
    from pipeline_engine.errors import EngineError

    # The database restart test stops the server while components run: wait for it rather than
    # fail the node over the probe's own read. One retry_if_unchanged waits for one reconnection
    # (SOPS_DB_RETRY_WAIT_SECONDS); on a loaded machine the server may refuse a little longer, and a
    # node failed by its probe would fail the test with a run that never finishes (seen once in CI).
    deadline = time.monotonic() + PROBE_DB_WAIT_SECONDS
    while True:
        try:
            detail = api.retry_if_unchanged(lambda: api.get_node_detail(ctx.run_id, ctx.node_id),
                                            label=f"faults probe read of run {ctx.run_id}")
        except EngineError:
            return False
        except Exception as exc:  # noqa: BLE001 - only a lost connection is waited out
            # Inside a step (an inline component) the step's transaction is lost with it: raise.
            if connection.in_atomic_block or not api.connection_lost(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        return detail.get("state") == "FINISHED"


class FaultsMark(Component):
    """Inline: runs inside the advance step. Records itself; flags a re-run of a finished node."""

    code = "faults_mark"
    name = "faults: mark (inline)"
    inline = True

    def execute(self, ctx: ExecutionContext) -> Outcome:
        probe("execute", ctx, rerun_after_finish=_already_finished(ctx))
        return Outcome.success()


class FaultsMarkSlow(Component):
    """Not inline: its own task, a short sleep so kills often land while it works."""

    code = "faults_mark_slow"
    name = "faults: mark (slow)"
    inputs_format = [FieldSpec("ms", "milliseconds to work", "int")]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        probe("execute", ctx, rerun_after_finish=_already_finished(ctx))
        deadline = time.monotonic() + float(ctx.inputs.get("ms", 50)) / 1000
        while time.monotonic() < deadline and not ctx.should_stop():
            time.sleep(0.005)
        return Outcome.success()


class FaultsWaitCallback(Component):
    """Waits for a callback; the schedule call that receives it is recorded (exactly once expected)."""

    code = "faults_wait_callback"
    name = "faults: wait for a callback"
    outputs_format = [FieldSpec("got", "callback data", "object")]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        probe("execute", ctx)
        return Outcome.wait_callback()

    def schedule(self, ctx: ExecutionContext, callback_data: Any = None) -> Outcome:
        probe("callback", ctx, data=callback_data)
        ctx.outputs["got"] = callback_data
        return Outcome.success()


class FaultsFail(Component):
    """Always fails: the target of retries (manual and automatic)."""

    code = "faults_fail"
    name = "faults: always fail"

    def execute(self, ctx: ExecutionContext) -> Outcome:
        probe("execute", ctx)
        return Outcome.failure("faults_fail fails on purpose")


class FaultsBlock(Component):
    """Works until told to stop (or `seconds` pass); records when it noticed the stop."""

    code = "faults_block"
    name = "faults: block until stopped"
    inputs_format = [FieldSpec("seconds", "longest time to work", "int")]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        probe("execute", ctx)
        deadline = time.monotonic() + float(ctx.inputs.get("seconds", 30))
        while time.monotonic() < deadline:
            if ctx.should_stop():
                probe("stopped", ctx)
                return Outcome.failure("stopped")
            time.sleep(0.01)
        probe("not_stopped", ctx)
        return Outcome.success()


for _cls in (FaultsMark, FaultsMarkSlow, FaultsWaitCallback, FaultsFail, FaultsBlock):
    register(_cls)

# A stuck worker can be asked for every thread's stack (SIGUSR2, see Worker.dump_stacks in
# conftest): the handler is inherited by the prefork children.
faulthandler.register(signal.SIGUSR2, file=sys.stderr, all_threads=True)
