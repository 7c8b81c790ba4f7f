"""The component's logger (core/components/node_log.py): lines as data, bounded, and what the simulator keeps."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline_engine.core.components import Component, ExecutionContext, Outcome, config, register, unregister
from pipeline_engine.core.components.node_log import DEFAULT_LIMIT, NodeLogger, bounded, limit
from pipeline_engine.testing import Simulator
from tests.pipeline_engine.trees import linear

CLOCK = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_lines_carry_time_level_and_formatted_message():
    log = NodeLogger(max_chars=100, clock=lambda: CLOCK)
    log.info("GET %s -> %d", "/x", 200)
    log.warning("plain")
    log.log("nonsense", "unknown levels are INFO")
    assert log.lines == [[CLOCK.isoformat(), "INFO", "GET /x -> 200"], [CLOCK.isoformat(), "WARNING", "plain"],
                         [CLOCK.isoformat(), "INFO", "unknown levels are INFO"]]
    assert log.truncated is False


def test_a_bad_format_string_is_logged_not_raised():
    log = NodeLogger(max_chars=100)
    log.error("%d items", "not a number")
    assert log.lines[0][1:] == ["ERROR", "%d items not a number"]


def test_past_the_bound_lines_are_dropped_and_the_log_marked_truncated():
    log = NodeLogger(max_chars=10)
    log.info("12345")
    log.info("123456")  # would make 11
    log.info("1")  # dropped too: once truncated, nothing more is kept
    assert [line[2] for line in log.lines] == ["12345"] and log.truncated is True
    lines, truncated = log.take()
    assert (len(lines), truncated) == (1, True) and log.lines == [] and log.truncated is False


def test_bounded_is_the_one_rule_across_calls():
    first = [["t", "INFO", "abcd"]]
    kept, dropped = bounded(first, [["t", "INFO", "ef"], ["t", "INFO", "ghij"]], 7)
    assert [x[2] for x in kept] == ["abcd", "ef"] and dropped is True
    assert bounded([], [], 0) == ([], False)


def test_the_limit_is_a_setting():
    assert limit() == DEFAULT_LIMIT
    with config.override(SOPS_NODE_LOG_MAX_CHARS=12):
        assert limit() == 12 and NodeLogger().max_chars == 12
    with config.override(SOPS_NODE_LOG_MAX_CHARS="junk"):
        assert limit() == DEFAULT_LIMIT


@pytest.fixture
def talkative():
    @register
    class Talkative(Component):
        code = "testing_talkative"

        def execute(self, ctx: ExecutionContext) -> Outcome:
            ctx.log.info("execute %s", ctx.inputs.get("n"))
            return Outcome.poll(1)

        def schedule(self, ctx: ExecutionContext, callback_data=None) -> Outcome:
            ctx.log.info("schedule %d", ctx.schedule_count)
            return Outcome.success()

    @register
    class InlineTalkative(Component):
        code = "testing_inline_talkative"
        inline = True

        def execute(self, ctx: ExecutionContext) -> Outcome:
            ctx.log.info("inline")
            return Outcome.success()

    yield
    unregister("testing_talkative")
    unregister("testing_inline_talkative")


def test_the_simulator_keeps_each_attempts_lines_in_order(talkative):
    sim = Simulator(linear(1, "testing_talkative", {"n": 7})).start()
    sim.drain()
    assert [[line[2] for line in lines] for lines in sim.logs.values()] == [["execute 7", "schedule 1"]]
    assert list(sim.logs)[0][0] == "n0"


def test_inline_components_log_too(talkative):
    sim = Simulator(linear(2, "testing_inline_talkative")).start()
    assert sorted((key, [x[2] for x in lines]) for (key, _v), lines in sim.logs.items()) == [
        ("n0", ["inline"]), ("n1", ["inline"])]
