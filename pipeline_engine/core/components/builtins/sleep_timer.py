"""`sleep_timer`: waits a number of seconds or until a given local time.

`bk_timing` is either seconds (`30`, `"2.5"`) or a datetime written
`%Y-%m-%d %H:%M:%S` in the run's time zone. With `force_check` a datetime in
the past fails the node; without it the node simply finishes at once.

The deadline is computed once, in `execute`, and kept in `ctx.state` as a
Unix timestamp, so every later `schedule` (possibly on another worker, on a
fresh instance) compares against the same instant and a retry of the node
starts a new wait.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from pipeline_engine.core.components.builtins._inputs import first, number
from pipeline_engine.core.components.registry import register

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STATE_KEY = "deadline"


def now() -> float:
    """Current Unix time; a function so tests can move the clock."""
    return time.time()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def compute_deadline(timing: Any, time_zone: str, force_check: bool, current: float) -> float:
    """Unix time at which the timer is due; ValueError with a user-facing reason."""
    if timing is None or timing == "":
        raise ValueError("bk_timing is required: give seconds or a time as YYYY-mm-dd HH:MM:SS")
    try:
        seconds: float | None = number(timing, field="bk_timing")
    except ValueError:
        seconds = None
    if seconds is not None:
        if seconds < 0:
            raise ValueError(f"bk_timing must not be negative, got {timing!r}")
        return current + seconds
    try:
        naive = datetime.strptime(str(timing).strip(), DATETIME_FORMAT)
    except ValueError as exc:
        raise ValueError(f"bk_timing {timing!r} is neither a number of seconds nor a time "
                         f"written as YYYY-mm-dd HH:MM:SS") from exc
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {time_zone!r}") from exc
    deadline = naive.replace(tzinfo=zone).timestamp()
    if force_check and deadline < current:
        raise ValueError(f"bk_timing {timing} ({time_zone or 'UTC'}) is in the past")
    return deadline


@register
class SleepTimerComponent(Component):
    code = "sleep_timer"
    group = "BK"
    name = "Timer"
    inline = False
    inputs_format = [
        FieldSpec("bk_timing", "Timing", "string", required=True,
                  description="Seconds to wait, or a time written YYYY-mm-dd HH:MM:SS in the "
                              "task's time zone."),
        FieldSpec("force_check", "Reject past times", "boolean",
                  description="Fail when the given time has already passed."),
    ]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        current = now()
        try:
            deadline = compute_deadline(
                first(ctx.inputs, "bk_timing"),
                ctx.time_zone,
                _truthy(first(ctx.inputs, "force_check", default=False)),
                current,
            )
        except ValueError as exc:
            ctx.log.error("timer input is invalid: %s", exc)
            return Outcome.failure(f"Timer input is invalid: {exc}.")
        ctx.state[STATE_KEY] = deadline
        ctx.log.info("waiting %.1f s, until %s (UTC)", max(0.0, deadline - current),
                     datetime.fromtimestamp(deadline, UTC).strftime(DATETIME_FORMAT))
        return Outcome.poll(max(0.0, deadline - current))

    def schedule(self, ctx: ExecutionContext, callback_data: Any = None) -> Outcome:
        deadline = ctx.state.get(STATE_KEY)
        if not isinstance(deadline, int | float):
            # State lost (should not happen): start the wait again rather
            # than finishing early.
            return self.execute(ctx)
        remaining = float(deadline) - now()
        if remaining <= 0:
            ctx.log.info("timer is due: done")
            return Outcome.success()
        return Outcome.poll(remaining)
