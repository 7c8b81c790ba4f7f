"""sleep_timer: waits until a duration passes or a moment comes, in the business's time zone."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline_engine.core.components import ExecutionContext, Outcome, get_component
from pipeline_engine.core.components.builtins import sleep_timer


def make_ctx(inputs=None, **kwargs) -> ExecutionContext:
    return ExecutionContext(run_id="run", node_id="node", inputs=dict(inputs or {}), **kwargs)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock(1_700_000_000.0)
    monkeypatch.setattr(sleep_timer, "now", fake)
    return fake


class TestSleepTimer:
    @pytest.mark.parametrize("timing, seconds", [(5, 5), ("5", 5), ("2.5", 2.5), (0, 0), (" 3 ", 3)])
    def test_seconds(self, clock, timing, seconds):
        component = get_component("sleep_timer")()
        ctx = make_ctx({"bk_timing": timing})
        outcome = component.execute(ctx)
        assert outcome == Outcome.poll(seconds)
        assert ctx.state["deadline"] == clock.now + seconds
        json.dumps(ctx.state)  # the engine persists it

    def test_schedule_polls_until_the_deadline_across_instances(self, clock):
        ctx = make_ctx({"bk_timing": "10"})
        get_component("sleep_timer")().execute(ctx)
        clock.now += 4
        assert get_component("sleep_timer")().schedule(ctx) == Outcome.poll(6)
        clock.now += 6
        assert get_component("sleep_timer")().schedule(ctx) == Outcome.success()

    def test_datetime_in_the_run_time_zone(self, clock):
        zone = ZoneInfo("Asia/Shanghai")
        target = datetime.fromtimestamp(clock.now + 3600, zone).replace(microsecond=0)
        ctx = make_ctx({"bk_timing": target.strftime("%Y-%m-%d %H:%M:%S")}, time_zone="Asia/Shanghai")
        outcome = get_component("sleep_timer")().execute(ctx)
        assert outcome.kind == "poll"
        assert ctx.state["deadline"] == target.timestamp()
        assert 3599 <= outcome.interval <= 3600

    def test_same_wall_time_differs_by_zone(self, clock):
        text = "2030-01-01 08:00:00"
        utc, shanghai = make_ctx({"bk_timing": text}), make_ctx({"bk_timing": text}, time_zone="Asia/Shanghai")
        get_component("sleep_timer")().execute(utc)
        get_component("sleep_timer")().execute(shanghai)
        assert utc.state["deadline"] - shanghai.state["deadline"] == 8 * 3600

    def test_past_datetime_finishes_at_once_without_force_check(self, clock):
        ctx = make_ctx({"bk_timing": "2000-01-01 00:00:00"})
        component = get_component("sleep_timer")()
        assert component.execute(ctx) == Outcome.poll(0)
        assert component.schedule(ctx) == Outcome.success()

    @pytest.mark.parametrize("flag", [True, "true", "1"])
    def test_past_datetime_fails_with_force_check(self, clock, flag):
        ctx = make_ctx({"bk_timing": "2000-01-01 00:00:00", "force_check": flag})
        outcome = get_component("sleep_timer")().execute(ctx)
        assert outcome.kind == "failure"
        assert "in the past" in outcome.ex_data

    def test_force_check_false_string(self, clock):
        ctx = make_ctx({"bk_timing": "2000-01-01 00:00:00", "force_check": "false"})
        assert get_component("sleep_timer")().execute(ctx).kind == "poll"

    @pytest.mark.parametrize("timing, reason", [
        ("", "required"),
        (None, "required"),
        ("soon", "neither a number"),
        ("2024-13-01 00:00:00", "neither a number"),
        ("2024-01-01", "neither a number"),
        ("-5", "negative"),
        ("nan", "neither a number"),
        (True, "neither a number"),
    ])
    def test_bad_input_fails_clearly(self, clock, timing, reason):
        outcome = get_component("sleep_timer")().execute(make_ctx({"bk_timing": timing}))
        assert outcome.kind == "failure"
        assert outcome.ex_data.startswith("Timer input is invalid")
        assert reason in outcome.ex_data

    def test_unknown_time_zone_fails_clearly(self, clock):
        ctx = make_ctx({"bk_timing": "2030-01-01 00:00:00"}, time_zone="Mars/Olympus")
        outcome = get_component("sleep_timer")().execute(ctx)
        assert outcome.kind == "failure" and "unknown time zone" in outcome.ex_data

    def test_lost_state_restarts_the_wait(self, clock):
        ctx = make_ctx({"bk_timing": 7})
        assert get_component("sleep_timer")().schedule(ctx) == Outcome.poll(7)
        assert ctx.state["deadline"] == clock.now + 7
