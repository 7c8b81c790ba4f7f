"""Times rendered `YYYY-mm-dd HH:MM:SS +zzzz` in a business's zone, and parsed back."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from sops_common.errors import InvalidInput
from sops_common.timefmt import expected_zone, format_time, parse_time

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_format_in_the_zone_given():
    at = dt.datetime(2018, 4, 23, 9, 26, 40, 900_000, tzinfo=dt.UTC)
    assert format_time(at, SHANGHAI) == "2018-04-23 17:26:40 +0800"
    assert format_time(at, "Europe/Paris") == "2018-04-23 11:26:40 +0200"
    assert format_time(at, None) == "2018-04-23 09:26:40 +0000"


def test_empty_and_naive_values():
    assert format_time(None, SHANGHAI) == ""
    assert format_time(None, SHANGHAI, empty=None) is None
    assert format_time(dt.datetime(2018, 4, 23, 9, 0, 0), SHANGHAI) == "2018-04-23 17:00:00 +0800"  # naive is UTC


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-04-23 17:26:40 +0800", dt.datetime(2018, 4, 23, 9, 26, 40, tzinfo=dt.UTC)),
    ("2018-04-23 17:26:40", dt.datetime(2018, 4, 23, 9, 26, 40, tzinfo=dt.UTC)),
    ("2018-04-23 17:26", dt.datetime(2018, 4, 23, 9, 26, tzinfo=dt.UTC)),
    ("2018-04-23", dt.datetime(2018, 4, 22, 16, 0, tzinfo=dt.UTC)),
    (" 2018-04-23T17:26:40+08:00 ", dt.datetime(2018, 4, 23, 9, 26, 40, tzinfo=dt.UTC)),
])
def test_parse_the_forms_callers_send(text, expected):
    assert parse_time(text, SHANGHAI) == expected


def test_parse_refuses_what_is_not_a_time():
    with pytest.raises(ValueError, match="is not a time in the form"):
        parse_time("yesterday", SHANGHAI)


def test_expected_zone_reads_a_zone_name_and_names_the_parameter_when_it_cannot():
    assert expected_zone("Asia/Shanghai") == zoneinfo.ZoneInfo("Asia/Shanghai")
    assert expected_zone("") is None and expected_zone(None) is None  # none asked: the caller's default
    with pytest.raises(InvalidInput, match=r"^expected_timezone Mars/Olympus is unknown\.$"):
        expected_zone("Mars/Olympus")
    with pytest.raises(InvalidInput, match=r"^tz \.\./etc is unknown\.$"):
        expected_zone("../etc", "tz")
    with pytest.raises(InvalidInput, match=r"^expected_timezone must be a string$"):
        expected_zone(8)
