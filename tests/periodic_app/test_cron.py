"""Cron parsing and next-fire computation, with a controlled clock (no database)."""
from __future__ import annotations

import datetime as dt
import random
import zoneinfo

import pytest
from croniter import croniter

from periodic_app.cron import (
    CronError,
    cron_text,
    fire_times,
    next_fire,
    parse_cron,
    parse_cron_text,
    wall_to_instant,
)

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
SANTIAGO = zoneinfo.ZoneInfo("America/Santiago")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def local(tz: dt.tzinfo, *args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz, fold=fold)


def fires(cron: dict, tz: dt.tzinfo, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` fire times after `start`, shown on the zone's wall clock."""
    schedule = parse_cron(cron)
    out, current = [], start
    for _ in range(count):
        current = next_fire(schedule, tz, current)
        assert current is not None
        out.append(current)
    return [t.astimezone(tz) for t in out]


def walls(times: list[dt.datetime]) -> list[str]:
    return [t.strftime("%Y-%m-%d %H:%M %a") for t in times]


# --- the documented forms ---------------------------------------------------------------------------

def test_star_fires_every_minute() -> None:
    start = local(UTC, 2025, 1, 1, 10, 0, 30)
    assert walls(fires({}, UTC, start, 3)) == ["2025-01-01 10:01 Wed", "2025-01-01 10:02 Wed", "2025-01-01 10:03 Wed"]


def test_next_fire_is_strictly_after_now() -> None:
    start = local(UTC, 2025, 1, 1, 10, 5)
    assert walls(fires({"minute": "*/5"}, UTC, start, 2)) == ["2025-01-01 10:10 Wed", "2025-01-01 10:15 Wed"]


def test_star_step() -> None:
    start = local(UTC, 2025, 1, 1, 10, 0)
    got = fires({"minute": "*/1", "hour": "15"}, UTC, start, 2)
    assert walls(got) == ["2025-01-01 15:00 Wed", "2025-01-01 15:01 Wed"]
    got = fires({"minute": "0", "hour": "*/6"}, UTC, start, 3)
    assert walls(got) == ["2025-01-01 12:00 Wed", "2025-01-01 18:00 Wed", "2025-01-02 00:00 Thu"]


def test_list_range_and_range_with_step() -> None:
    schedule = parse_cron({"minute": "1,2,3-19/2"})
    assert sorted(schedule.minutes) == [1, 2, 3, 5, 7, 9, 11, 13, 15, 17, 19]
    got = fires({"minute": "1,2,3-19/2", "hour": "2"}, UTC, local(UTC, 2025, 1, 1, 2, 10), 6)
    assert walls(got) == ["2025-01-01 02:11 Wed", "2025-01-01 02:13 Wed", "2025-01-01 02:15 Wed",
                          "2025-01-01 02:17 Wed", "2025-01-01 02:19 Wed", "2025-01-02 02:01 Thu"]


def test_the_spec_example_cron() -> None:
    # "1,2,3-19/2 2 3 4 5": minutes 1,2,3,5..19 of 02:xx on a 4th of May that is a Wednesday.
    got = fires({"minute": "1,2,3-19/2", "hour": "2", "day_of_week": "3", "day_of_month": "4",
                 "month_of_year": "5"}, TOKYO, local(TOKYO, 2025, 1, 1), 2)
    assert walls(got) == ["2033-05-04 02:01 Wed", "2033-05-04 02:02 Wed"]


def test_wrapping_ranges() -> None:
    schedule = parse_cron({"hour": "22-2", "day_of_week": "fri-mon", "month_of_year": "nov-feb"})
    assert sorted(schedule.hours) == [0, 1, 2, 22, 23]
    assert sorted(schedule.days_of_week) == [0, 1, 5, 6]
    assert sorted(schedule.months) == [1, 2, 11, 12]
    assert sorted(parse_cron({"hour": "22-2/2"}).hours) == [0, 2, 22]


@pytest.mark.parametrize("dow, expected", [
    ("mon-fri", [1, 2, 3, 4, 5]),
    ("MON-FRI", [1, 2, 3, 4, 5]),
    ("sun", [0]),
    ("sat,sun", [0, 6]),
    ("monday", [1]),
    ("0", [0]),
    ("7", [0]),
    ("5-7", [0, 5, 6]),
    ("0-6/2", [0, 2, 4, 6]),
    ("*/3", [0, 3, 6]),
])
def test_day_of_week_forms(dow: str, expected: list[int]) -> None:
    assert sorted(parse_cron({"day_of_week": dow}).days_of_week) == expected


def test_day_names_fire_on_the_right_days() -> None:
    # 2025-01-06 is a Monday.
    got = fires({"minute": "0", "hour": "9", "day_of_week": "mon-fri"}, UTC, local(UTC, 2025, 1, 4), 6)
    assert walls(got) == ["2025-01-06 09:00 Mon", "2025-01-07 09:00 Tue", "2025-01-08 09:00 Wed",
                          "2025-01-09 09:00 Thu", "2025-01-10 09:00 Fri", "2025-01-13 09:00 Mon"]


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "Sunday"])
def test_sunday_is_0_and_7(sunday: str) -> None:
    got = fires({"minute": "0", "hour": "0", "day_of_week": sunday}, UTC, local(UTC, 2025, 1, 1), 2)
    assert walls(got) == ["2025-01-05 00:00 Sun", "2025-01-12 00:00 Sun"]


@pytest.mark.parametrize("months, expected", [
    ("jan", [1]), ("Jan,Jul", [1, 7]), ("mar-may", [3, 4, 5]), ("*/4", [1, 5, 9]), ("december", [12]),
])
def test_month_names(months: str, expected: list[int]) -> None:
    assert sorted(parse_cron({"month_of_year": months}).months) == expected


def test_month_names_fire_in_those_months() -> None:
    got = fires({"minute": "0", "hour": "0", "day_of_month": "1", "month_of_year": "jan,jul"}, UTC,
                local(UTC, 2025, 2, 1), 3)
    assert walls(got) == ["2025-07-01 00:00 Tue", "2026-01-01 00:00 Thu", "2026-07-01 00:00 Wed"]


def test_day_of_week_and_day_of_month_must_both_match() -> None:
    # Friday the 13th: celery ANDs the two day fields (Unix cron would fire on every 13th and every Friday).
    got = fires({"minute": "0", "hour": "12", "day_of_week": "5", "day_of_month": "13"}, UTC,
                local(UTC, 2025, 1, 1), 3)
    assert walls(got) == ["2025-06-13 12:00 Fri", "2026-02-13 12:00 Fri", "2026-03-13 12:00 Fri"]


def test_day_of_month_alone_and_last_days() -> None:
    got = fires({"minute": "0", "hour": "0", "day_of_month": "31"}, UTC, local(UTC, 2025, 1, 31, 1), 3)
    assert walls(got) == ["2025-03-31 00:00 Mon", "2025-05-31 00:00 Sat", "2025-07-31 00:00 Thu"]
    got = fires({"minute": "0", "hour": "0", "day_of_month": "29", "month_of_year": "2"}, UTC,
                local(UTC, 2025, 1, 1), 2)
    assert walls(got) == ["2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun"]


def test_rare_combination_is_found_far_ahead() -> None:
    # Monday the 29th of February: 2044, then 2072.
    got = fires({"minute": "0", "hour": "0", "day_of_week": "mon", "day_of_month": "29", "month_of_year": "feb"},
                UTC, local(UTC, 2025, 1, 1), 2)
    assert walls(got) == ["2044-02-29 00:00 Mon", "2072-02-29 00:00 Mon"]


def test_evaluated_in_the_business_zone() -> None:
    schedule = parse_cron({"minute": "0", "hour": "9"})
    after = dt.datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    assert next_fire(schedule, TOKYO, after) == dt.datetime(2025, 1, 1, 0, 0, tzinfo=UTC) + dt.timedelta(days=1)
    assert next_fire(schedule, "Europe/Berlin", after) == dt.datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    assert next_fire(schedule, "UTC", after) == dt.datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def test_the_display_form() -> None:
    schedule = parse_cron({"minute": "*/1", "hour": "15", "day_of_week": "*", "day_of_month": "*",
                           "month_of_year": "*"})
    assert schedule.text == "*/1 15 * * * (m/h/d/dM/MY)"
    assert parse_cron({"minute": " 1, 2 ,3-19/2 ", "hour": 2}).text == "1,2,3-19/2 2 * * * (m/h/d/dM/MY)"
    assert parse_cron({}).text == "* * * * * (m/h/d/dM/MY)"
    assert parse_cron_text("*/5 * * * * (m/h/d/dM/MY)").minute == "*/5"
    assert parse_cron_text("0 9 mon-fri * *").day_of_week == "mon-fri"
    assert cron_text({"minute": "1", "hour": "2", "day_of_week": "3", "day_of_month": "4",
                      "month_of_year": "5"}) == "1 2 3 4 5 (m/h/d/dM/MY)"


@pytest.mark.parametrize("cron, field, fragment", [
    ({"minute": "60"}, "minute", "out of range 0-59"),
    ({"hour": "24"}, "hour", "out of range 0-23"),
    ({"day_of_month": "0"}, "day_of_month", "out of range 1-31"),
    ({"day_of_month": "32"}, "day_of_month", "out of range 1-31"),
    ({"month_of_year": "13"}, "month_of_year", "out of range 1-12"),
    ({"day_of_week": "8"}, "day_of_week", "out of range 0-7"),
    ({"day_of_week": "funday"}, "day_of_week", "not a number"),
    ({"month_of_year": "smarch"}, "month_of_year", "not a number"),
    ({"minute": "mon"}, "minute", "not a number"),
    ({"minute": "*/0"}, "minute", "step must not be 0"),
    ({"minute": "*/x"}, "minute", "not a positive integer"),
    ({"minute": "5/15"}, "minute", "write 5-59/15"),
    ({"minute": "-5"}, "minute", "negative"),
    ({"minute": "1,,2"}, "minute", "empty list item"),
    ({"minute": ""}, "minute", "empty"),
    ({"hour": "3-"}, "hour", "not a range"),
    ({"minute": ["1"]}, "minute", "must be a string"),
    ({"minutes": "1"}, "minutes", "unknown field"),
    ({"day_of_month": "30", "month_of_year": "feb"}, "day_of_month", "no date ever matches"),
])
def test_invalid_fields_are_named(cron: dict, field: str, fragment: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(cron)
    assert info.value.field == field
    assert field in str(info.value) and fragment in str(info.value)


# --- daylight saving time ---------------------------------------------------------------------------

def test_berlin_spring_forward_skipped_time_fires_once_at_the_first_valid_minute() -> None:
    # 2025-03-30 02:00 CET -> 03:00 CEST: 02:30 does not exist.
    got = fires({"minute": "30", "hour": "2"}, BERLIN, local(BERLIN, 2025, 3, 29, 12), 3)
    assert [t.isoformat() for t in got] == [
        "2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00"]


def test_berlin_spring_forward_every_minute_collapses_the_gap_into_one_firing() -> None:
    schedule = parse_cron({})
    start = local(BERLIN, 2025, 3, 30, 1, 58)
    got = [t.astimezone(BERLIN).strftime("%H%M%z") for t in
           fire_times(schedule, BERLIN, start, start + dt.timedelta(minutes=5))]
    # 01:59, then the 60 skipped minutes and 03:00 itself are one firing at 03:00, then 03:01 ...
    assert got == ["0159+0100", "0300+0200", "0301+0200", "0302+0200", "0303+0200"]


def test_berlin_fall_back_repeated_hour_fires_once() -> None:
    # 2025-10-26 03:00 CEST -> 02:00 CET: 02:30 happens twice; fire at the first only.
    got = fires({"minute": "30", "hour": "2"}, BERLIN, local(BERLIN, 2025, 10, 25, 12), 2)
    assert [t.isoformat() for t in got] == ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"]
    # Every 15 minutes: the wall-clock quarter hours 02:00..02:45 fire once each, not twice.
    start = local(BERLIN, 2025, 10, 26, 1, 50)
    # (aware arithmetic in Python is wall-clock arithmetic: add in UTC)
    times = fire_times(parse_cron({"minute": "*/15"}), BERLIN, start, start.astimezone(UTC) + dt.timedelta(hours=3))
    assert [t.astimezone(BERLIN).strftime("%H%M%z") for t in times] == [
        "0200+0200", "0215+0200", "0230+0200", "0245+0200", "0300+0100", "0315+0100", "0330+0100",
        "0345+0100"]


def test_new_york_both_transitions() -> None:
    got = fires({"minute": "15", "hour": "2"}, NEW_YORK, local(NEW_YORK, 2025, 3, 8, 12), 2)
    assert [t.isoformat() for t in got] == ["2025-03-09T03:00:00-04:00", "2025-03-10T02:15:00-04:00"]
    got = fires({"minute": "15", "hour": "1"}, NEW_YORK, local(NEW_YORK, 2025, 11, 1, 12), 3)
    assert [t.isoformat() for t in got] == ["2025-11-02T01:15:00-04:00", "2025-11-03T01:15:00-05:00",
                                            "2025-11-04T01:15:00-05:00"]


def test_clock_in_the_repeated_hour_does_not_refire() -> None:
    # The scheduler is asked during the second 01:30 (EST): 01:15..01:59 were already fired in EDT.
    schedule = parse_cron({"minute": "*/15"})
    second_pass = local(NEW_YORK, 2025, 11, 2, 1, 30, fold=1)
    nxt = next_fire(schedule, NEW_YORK, second_pass)
    assert nxt.astimezone(NEW_YORK).isoformat() == "2025-11-02T02:00:00-05:00"


def test_sydney_spring_forward_in_october() -> None:
    # 2025-10-05 02:00 AEST -> 03:00 AEDT.
    got = fires({"minute": "30", "hour": "2"}, SYDNEY, local(SYDNEY, 2025, 10, 4, 12), 2)
    assert [t.isoformat() for t in got] == ["2025-10-05T03:00:00+11:00", "2025-10-06T02:30:00+11:00"]


def test_sydney_fall_back_in_april() -> None:
    # 2025-04-06 03:00 AEDT -> 02:00 AEST: 02:30 happens twice.
    got = fires({"minute": "30", "hour": "2"}, SYDNEY, local(SYDNEY, 2025, 4, 5, 12), 2)
    assert [t.isoformat() for t in got] == ["2025-04-06T02:30:00+11:00", "2025-04-07T02:30:00+10:00"]
    start = local(SYDNEY, 2025, 4, 6, 1, 50)
    hourly = fire_times(parse_cron({"minute": "0"}), SYDNEY, start, start.astimezone(UTC) + dt.timedelta(hours=4))
    assert [t.astimezone(SYDNEY).strftime("%H%M%z") for t in hourly] == [
        "0200+1100", "0300+1000", "0400+1000"]


def test_santiago_midnight_transitions() -> None:
    # Chile changes at midnight: 2025-09-07 00:00 -> 01:00 (no midnight that day) and
    # 2025-04-06 00:00 -> 2025-04-05 23:00 (23:xx of the 5th happens twice).
    got = fires({"minute": "0", "hour": "0"}, SANTIAGO, local(SANTIAGO, 2025, 9, 6, 12), 2)
    assert [t.isoformat() for t in got] == ["2025-09-07T01:00:00-03:00", "2025-09-08T00:00:00-03:00"]
    got = fires({"minute": "30", "hour": "23"}, SANTIAGO, local(SANTIAGO, 2025, 4, 5, 12), 2)
    assert [t.isoformat() for t in got] == ["2025-04-05T23:30:00-03:00", "2025-04-06T23:30:00-04:00"]


def test_fire_instants_never_go_backwards_through_a_year_of_transitions() -> None:
    for tz in (BERLIN, NEW_YORK, SYDNEY, SANTIAGO):
        start = local(tz, 2025, 1, 1)
        times = fire_times(parse_cron({"minute": "*/30"}), tz, start, start + dt.timedelta(days=366),
                           limit=20_000)
        assert all(a < b for a, b in zip(times, times[1:], strict=False))
        # Each wall-clock slot fires at most once: no wall time repeats.
        wall = [t.astimezone(tz).replace(tzinfo=None) for t in times]
        assert len(set(wall)) == len(wall)


def test_wall_to_instant_gap_and_fold() -> None:
    assert wall_to_instant(dt.datetime(2025, 3, 30, 2, 30), BERLIN) == dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert wall_to_instant(dt.datetime(2025, 10, 26, 2, 30), BERLIN) == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    # Lord Howe Island moves its clock by 30 minutes.
    lord_howe = zoneinfo.ZoneInfo("Australia/Lord_Howe")
    assert wall_to_instant(dt.datetime(2025, 10, 5, 2, 15), lord_howe).astimezone(lord_howe).isoformat() == \
        "2025-10-05T02:30:00+11:00"


# --- cross-check with croniter (AND semantics) in zones without DST ---------------------------------

def _random_field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.choice(["*", "n", "list", "range", "step", "rangestep"])
    if kind == "*":
        return "*"
    if kind == "n":
        return str(rng.randint(low, high))
    if kind == "list":
        return ",".join(str(v) for v in sorted(rng.sample(range(low, high + 1), 3)))
    a = rng.randint(low, high - 1)
    b = rng.randint(a + 1, high)
    if kind == "range":
        return f"{a}-{b}"
    if kind == "step":
        return f"*/{rng.randint(2, 5)}"
    return f"{a}-{b}/{rng.randint(2, 3)}"


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_croniter_and_semantics(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        cron = {"minute": _random_field(rng, 0, 59), "hour": _random_field(rng, 0, 23),
                "day_of_week": _random_field(rng, 0, 6), "day_of_month": _random_field(rng, 1, 28),
                "month_of_year": _random_field(rng, 1, 12)}
        schedule = parse_cron(cron)
        # croniter's order is Unix's: minute hour day_of_month month day_of_week.
        expr = f"{cron['minute']} {cron['hour']} {cron['day_of_month']} {cron['month_of_year']} {cron['day_of_week']}"
        start = dt.datetime(2025, 1, 1, 0, 0, tzinfo=TOKYO) + dt.timedelta(minutes=rng.randint(0, 600_000))
        it = croniter(expr, start, day_or=False)
        ours = start
        for _ in range(5):
            ours = next_fire(schedule, TOKYO, ours)
            theirs = it.get_next(dt.datetime)
            assert ours == theirs, (cron, start)


def test_a_stored_schedule_is_parsed_once_and_is_the_schedule_its_texts_give() -> None:
    from periodic_app.cron import parse_stored_cron

    stored = {"minute": "*/15", "hour": "3", "day_of_week": "*", "day_of_month": "1-7", "month_of_year": "*"}
    first = parse_stored_cron(stored)
    assert first == parse_cron(stored)
    assert parse_stored_cron(dict(stored)) is first  # an equal row's texts find the same schedule
    other = parse_stored_cron({**stored, "hour": "4"})
    assert other is not first and other.hours == frozenset({4})
    with pytest.raises(CronError):  # a broken row raises every time; no failure is kept
        parse_stored_cron({**stored, "minute": "61"})
    with pytest.raises(CronError):
        parse_stored_cron({**stored, "minute": "61"})
