"""How the engine calls components (core/components/calls.py): errors fail, immediate polls loop."""
from __future__ import annotations

from pipeline_engine.core import states as s
from pipeline_engine.core.components import (
    MAX_IMMEDIATE_POLLS,
    Component,
    ExecutionContext,
    Outcome,
    call,
    safe_call,
)


def ctx() -> ExecutionContext:
    return ExecutionContext(run_id="r", node_id="n", inputs={})


def test_safe_call_turns_exceptions_and_plain_answers_into_outcomes():
    def boom() -> Outcome:
        raise ValueError("plugin bug")

    failed = safe_call(boom)
    assert failed.kind == "failure" and "ValueError: plugin bug" in (failed.ex_data or "")
    assert safe_call(lambda: None) == Outcome.success()
    assert safe_call(lambda: True) == Outcome.success()
    assert safe_call(lambda: False) == Outcome.failure("the component reported failure")
    assert safe_call(lambda: Outcome.poll(3)) == Outcome.poll(3)


class Polls(Component):
    code = "test_calls_polls"

    def __init__(self, times: int, interval: float = 0) -> None:
        self.times, self.interval, self.calls = times, interval, []

    def execute(self, ctx: ExecutionContext) -> Outcome:
        self.calls.append(("execute", None))
        return Outcome.poll(self.interval) if self.times else Outcome.success()

    def schedule(self, ctx: ExecutionContext, callback_data=None) -> Outcome:
        self.calls.append(("schedule", callback_data))
        self.times -= 1
        return Outcome.poll(self.interval) if self.times > 0 else Outcome.success()


def test_immediate_polls_are_served_in_the_same_call():
    component, c = Polls(3), ctx()
    outcome, polls = call(component, c, s.PHASE_EXECUTE)
    assert outcome == Outcome.success() and polls == 3 and c.schedule_count == 3
    assert component.calls == [("execute", None)] + [("schedule", None)] * 3


def test_a_delayed_poll_ends_the_call():
    component = Polls(3, interval=2)
    outcome, polls = call(component, ctx(), s.PHASE_EXECUTE)
    assert outcome == Outcome.poll(2) and polls == 0 and len(component.calls) == 1


def test_immediate_polls_stop_at_the_limit_and_when_told_to_stop():
    component = Polls(10 * MAX_IMMEDIATE_POLLS)
    outcome, polls = call(component, ctx(), s.PHASE_EXECUTE, max_polls=5)
    assert outcome.kind == "poll" and polls == 5
    stopped = ctx()
    stopped.stop_event.set()
    outcome, polls = call(Polls(3), stopped, s.PHASE_EXECUTE)
    assert outcome.kind == "poll" and polls == 0


def test_only_the_callback_phase_gets_the_callback_data():
    component = Polls(2)
    call(component, ctx(), s.PHASE_CALLBACK, {"approved": True})
    assert component.calls == [("schedule", {"approved": True}), ("schedule", None)]
    component = Polls(1)
    call(component, ctx(), s.PHASE_POLL, {"ignored": True})
    assert component.calls == [("schedule", None)]
