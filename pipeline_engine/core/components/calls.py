"""How the engine calls component code: one attempt, with immediate polls served in place.

The worker's runner and the testing simulator both call components through
`call`, so a plugin behaves the same under test as in production.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from pipeline_engine.core import states as s
from pipeline_engine.core.components.base import Component, ExecutionContext, Outcome

# A poll asking for no delay is served in the same call, up to this many times,
# instead of a round trip through the broker.
MAX_IMMEDIATE_POLLS = 100


def safe_call(fn: Callable[[], Any]) -> Outcome:
    """Run component code; any exception becomes a failure with its traceback.

    A component may also answer None/True (success) or False (failure), as
    plugins written for the original did.
    """
    try:
        outcome = fn()
    except Exception:  # noqa: BLE001 - a plugin's bug must fail its node, not the engine
        return Outcome.failure(traceback.format_exc(limit=8))
    if outcome is None or outcome is True:
        return Outcome.success()
    if outcome is False:
        return Outcome.failure("the component reported failure")
    return outcome  # type: ignore[no-any-return]  # plugins are untyped; an Outcome is the contract


def call(component: Component, ctx: ExecutionContext, phase: str, callback_data: Any = None, *,
         max_polls: int = MAX_IMMEDIATE_POLLS) -> tuple[Outcome, int]:
    """Call `execute` (phase execute) or `schedule` once, then again while it asks to be
    polled with no delay (at most `max_polls` times, and not once told to stop).

    Returns the last outcome and how many immediate polls were served; each one
    advanced `ctx.schedule_count`. Only the first schedule call of the callback
    phase gets `callback_data`.
    """
    polls = 0
    while True:
        if phase == s.PHASE_EXECUTE:
            outcome = safe_call(lambda: component.execute(ctx))
        else:
            data = callback_data if phase == s.PHASE_CALLBACK else None
            outcome = safe_call(partial(component.schedule, ctx, data))
        if outcome.kind == "poll" and outcome.interval <= 0 and polls < max_polls and not ctx.should_stop():
            polls += 1
            ctx.schedule_count += 1
            phase = s.PHASE_POLL
            continue
        return outcome, polls
