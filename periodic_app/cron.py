"""Cron schedules with the original's semantics, and the next fire time in a business's zone.

The original stores each periodic task as a celery ``crontab`` in the
business's time zone. We keep its *meaning* but compute fire times ourselves,
because two of its rules differ from Unix cron and from croniter's defaults:

* The field order of the API is ``minute hour day_of_week day_of_month
  month_of_year`` (day of week third), rendered as
  ``"{m} {h} {dow} {dom} {moy} (m/h/d/dM/MY)"``.
* ``day_of_week`` and ``day_of_month`` must **both** match (celery ANDs them;
  Unix cron ORs them when both are restricted). ``day_of_week`` 0 is Sunday;
  7 is accepted as Sunday too.

Each field accepts what celery's crontab parser accepts: ``*``, ``*/n``,
numbers, ranges ``a-b`` (wrapping past the maximum, e.g. ``fri-mon`` or
``22-2``), ranges with a step ``a-b/n`` and comma lists of these; English day
names (``sun``..``sat``, full names too) in ``day_of_week`` and month names
(``jan``..``dec``) in ``month_of_year``.

Daylight saving time. Schedules are matched on the *wall clock* of the zone,
minute by minute, and each matching wall-clock minute is turned into one
instant:

* a wall-clock time that does not exist (the clock springs forward over it)
  fires at the first valid minute after it, i.e. at the transition instant;
  several skipped times collapse into that single firing, so it fires once;
* a wall-clock time that happens twice (the clock falls back) fires at its
  first occurrence only; the repeated hour does not fire again.

The resulting fire instants never go backwards, which lets
:func:`next_fire` simply return the first one strictly after ``after``.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sops_common.limits import MAX_CRON_FIELD_CHARS, SHOWN_CHARS

UTC = dt.UTC
FIELDS: tuple[str, ...] = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
SUFFIX = "(m/h/d/dM/MY)"

# (lowest, highest) value of each field; day_of_week also admits 7 (= Sunday) on input.
BOUNDS: dict[str, tuple[int, int]] = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_week": (0, 6),
    "day_of_month": (1, 31),
    "month_of_year": (1, 12),
}
_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
# The Gregorian calendar (leap years and weekdays together) repeats every 400 years: a day
# combination that does not occur within that span never occurs.
_HORIZON_YEARS = 400
_ONE_MINUTE = dt.timedelta(minutes=1)
_STEP = re.compile(r"^(?P<base>[^/]+)/(?P<step>.*)$")


class CronError(ValueError):
    """A cron field is malformed; the message names the field."""

    def __init__(self, field_name: str, raw: Any, reason: str) -> None:
        self.field = field_name
        self.raw = raw
        self.reason = reason
        shown = repr(raw) if len(repr(raw)) <= SHOWN_CHARS else repr(raw)[:SHOWN_CHARS] + "…"
        super().__init__(f"cron field {field_name}={shown} is invalid: {reason}")


def _name_value(field_name: str, token: str) -> int | None:
    """The number a day or month name stands for, or None when the token is not a name."""
    word = token.lower()
    names: tuple[str, ...]
    if field_name == "day_of_week":
        names = _DAY_NAMES
        offset = 0
    elif field_name == "month_of_year":
        names = _MONTH_NAMES
        offset = 1
    else:
        return None
    for index, name in enumerate(names):
        if word == name or word == name[:3]:
            return index + offset
    return None


def _number(field_name: str, raw: str | int, token: str) -> int:
    low, high = BOUNDS[field_name]
    if field_name == "day_of_week":
        high = 7  # 7 is Sunday as in Unix cron; folded to 0 once the range is expanded
    if token.startswith("-"):
        raise CronError(field_name, raw, f"negative numbers are not supported ({token})")
    if token.isdigit():
        value = int(token)
    else:
        named = _name_value(field_name, token)
        if named is None:
            hint = {"day_of_week": " (numbers 0-7 or sun..sat)",
                    "month_of_year": " (numbers 1-12 or jan..dec)"}.get(field_name, "")
            raise CronError(field_name, raw, f"{token!r} is not a number{hint}")
        value = named
    if not low <= value <= high:
        raise CronError(field_name, raw, f"{value} is out of range {low}-{high}")
    return value


def _expand_range(field_name: str, raw: str | int, text: str) -> list[int]:
    """`a`, `a-b`, or a wrapping `a-b` with b < a (e.g. fri-mon, 22-2), in firing order."""
    low, high = BOUNDS[field_name]
    if field_name == "day_of_week":
        high = 7
    if "-" in text[1:]:
        start_text, _, end_text = text.partition("-")
        if not start_text or not end_text:
            raise CronError(field_name, raw, f"{text!r} is not a range a-b")
        start = _number(field_name, raw, start_text)
        end = _number(field_name, raw, end_text)
        if end >= start:
            return list(range(start, end + 1))
        # A range that wraps past the maximum continues from the minimum, as celery does.
        return list(range(start, high + 1)) + list(range(low, end + 1))
    return [_number(field_name, raw, text)]


def _parse_part(field_name: str, raw: str | int, part: str) -> list[int]:
    low, high = BOUNDS[field_name]
    match = _STEP.match(part)
    base, step_text = (match.group("base"), match.group("step")) if match else (part, None)
    if base == "*":
        values = list(range(low, high + 1))
    elif step_text is not None and "-" not in base[1:]:
        # celery refuses `5/15`; say how to write what was probably meant.
        raise CronError(field_name, raw, f"a step needs * or a range before it: write {base}-{high}/{step_text}")
    else:
        values = _expand_range(field_name, raw, base)
    if step_text is None:
        return values
    if not step_text.isdigit():
        raise CronError(field_name, raw, f"step {step_text!r} is not a positive integer")
    step = int(step_text)
    if step == 0:
        raise CronError(field_name, raw, "step must not be 0")
    return values[::step]


def parse_field(field_name: str, raw: Any) -> tuple[str, frozenset[int]]:
    """Normalise one field's text (spaces removed, as the original) and expand it to its values."""
    if field_name not in BOUNDS:
        raise ValueError(f"unknown cron field {field_name}")
    if raw is None:
        raw = "*"
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise CronError(field_name, raw, "must be a string such as '*/5' or '1,2,3-19/2'")
    text = re.sub(r"\s+", "", str(raw))
    if not text:
        raise CronError(field_name, raw, "is empty (leave it out for '*')")
    if len(text) > MAX_CRON_FIELD_CHARS:
        raise CronError(field_name, raw, f"is longer than {MAX_CRON_FIELD_CHARS} characters")
    if not text.isascii():
        # str.isdigit() and int() accept "٣", "²" or "３"; a cron field is written in ASCII.
        raise CronError(field_name, raw, "must be written in ASCII: digits 0-9, names, and * , - /")
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(field_name, raw, "has an empty list item")
        values.update(_parse_part(field_name, raw, part))
    if field_name == "day_of_week" and 7 in values:
        values.discard(7)
        values.add(0)
    return text, frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron: the normalised field texts and the value sets they expand to."""

    minute: str
    hour: str
    day_of_week: str
    day_of_month: str
    month_of_year: str
    minutes: frozenset[int] = field(repr=False)
    hours: frozenset[int] = field(repr=False)
    days_of_week: frozenset[int] = field(repr=False)  # 0 = Sunday
    days_of_month: frozenset[int] = field(repr=False)
    months: frozenset[int] = field(repr=False)
    _minutes_of_day: tuple[int, ...] = field(repr=False, compare=False, default=())
    _sorted_months: tuple[int, ...] = field(repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_minutes_of_day",
                           tuple(sorted(h * 60 + m for h in self.hours for m in self.minutes)))
        object.__setattr__(self, "_sorted_months", tuple(sorted(self.months)))

    # --- rendering -------------------------------------------------------------------------------

    def fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def text(self) -> str:
        """The original's display form: `*/1 15 * * * (m/h/d/dM/MY)`."""
        return " ".join(getattr(self, name) for name in FIELDS) + f" {SUFFIX}"

    def __str__(self) -> str:
        return self.text

    # --- matching --------------------------------------------------------------------------------

    def matches_day(self, day: dt.date) -> bool:
        # Both day fields must match (celery's AND), Sunday = 0.
        return (day.month in self.months and day.day in self.days_of_month
                and (day.weekday() + 1) % 7 in self.days_of_week)

    def matches(self, wall: dt.datetime) -> bool:
        """Whether a wall-clock minute (naive, in the schedule's zone) is a firing minute."""
        return self.matches_day(wall.date()) and wall.hour in self.hours and wall.minute in self.minutes

    def next_wall_time(self, after: dt.datetime) -> dt.datetime | None:
        """The first matching wall-clock minute strictly after the minute of `after` (naive)."""
        start = after.replace(tzinfo=None, second=0, microsecond=0, fold=0) + _ONE_MINUTE
        day = start.date()
        first_minute = start.hour * 60 + start.minute
        last_year = min(dt.MAXYEAR, day.year + _HORIZON_YEARS)
        while day.year <= last_year:
            if day.month not in self.months:
                following = self._next_month_start(day)
                if following is None:
                    return None
                day, first_minute = following, 0
                continue
            if self.matches_day(day):
                index = bisect.bisect_left(self._minutes_of_day, first_minute)
                if index < len(self._minutes_of_day):
                    minute_of_day = self._minutes_of_day[index]
                    return dt.datetime.combine(day, dt.time(minute_of_day // 60, minute_of_day % 60))
            if day == dt.date.max:
                return None
            day += dt.timedelta(days=1)
            first_minute = 0
        return None

    def _next_month_start(self, day: dt.date) -> dt.date | None:
        """The first day of the next month (after `day`'s) that the schedule allows."""
        index = bisect.bisect_right(self._sorted_months, day.month)
        if index < len(self._sorted_months):
            return dt.date(day.year, self._sorted_months[index], 1)
        if day.year >= dt.MAXYEAR:
            return None
        return dt.date(day.year + 1, self._sorted_months[0], 1)

    def ever_fires(self) -> bool:
        """False for day combinations that never happen, e.g. day_of_month=30 in February."""
        return self.next_wall_time(dt.datetime(2000, 1, 1)) is not None


def parse_cron(cron: Mapping[str, Any]) -> CronSchedule:
    """A schedule from the API's dict; missing fields are `*`. Raises CronError naming the field."""
    unknown = sorted(set(cron) - set(FIELDS))
    if unknown:
        raise CronError(unknown[0], cron[unknown[0]], f"unknown field; the fields are {', '.join(FIELDS)}")
    texts: dict[str, str] = {}
    values: dict[str, frozenset[int]] = {}
    for name in FIELDS:
        texts[name], values[name] = parse_field(name, cron.get(name, "*"))
    schedule = CronSchedule(
        minute=texts["minute"], hour=texts["hour"], day_of_week=texts["day_of_week"],
        day_of_month=texts["day_of_month"], month_of_year=texts["month_of_year"],
        minutes=values["minute"], hours=values["hour"], days_of_week=values["day_of_week"],
        days_of_month=values["day_of_month"], months=values["month_of_year"],
    )
    if not schedule.ever_fires():
        raise CronError("day_of_month", texts["day_of_month"],
                        f"no date ever matches day_of_month={texts['day_of_month']} together with "
                        f"day_of_week={texts['day_of_week']} and month_of_year={texts['month_of_year']} "
                        "(both day fields must match)")
    return schedule


def parse_stored_cron(fields: Mapping[str, str]) -> CronSchedule:
    """parse_cron of a stored row's field texts, each distinct set parsed once per process: a
    schedule is immutable, many rows share a few, and a burst of firings reads each row's."""
    return _parse_stored(tuple(fields.get(name, "*") for name in FIELDS))


@functools.lru_cache(maxsize=1024)
def _parse_stored(texts: tuple[str, ...]) -> CronSchedule:
    return parse_cron(dict(zip(FIELDS, texts, strict=True)))


def parse_cron_text(text: str) -> CronSchedule:
    """A schedule from its display form, `m h dow dom moy` with or without the suffix."""
    body = text.strip()
    if body.endswith(SUFFIX):
        body = body[: -len(SUFFIX)].strip()
    parts = body.split()
    if len(parts) != len(FIELDS):
        raise CronError("cron", text, f"expected {len(FIELDS)} fields "
                        "'minute hour day_of_week day_of_month month_of_year'")
    return parse_cron(dict(zip(FIELDS, parts, strict=True)))


# --- wall clock to instants -------------------------------------------------------------------------

def _wall(instant: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def wall_to_instant(wall: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant at which a wall-clock minute of `tz` fires (see the module's DST rules)."""
    wall = wall.replace(tzinfo=None, fold=0)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        # The time exists; for a repeated time fold=0 is its first occurrence.
        return first
    # The time falls in a gap. Before the transition the zone's clock shows less than `wall`,
    # from the transition on it shows more: find that instant by bisection on whole seconds.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while (hi - lo) > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if _wall(mid, tz) > wall:
            hi = mid
        else:
            lo = mid
    if hi.second or hi.microsecond:
        # Fire on a whole minute: the first valid minute after the skipped time.
        hi = hi.replace(second=0, microsecond=0) + _ONE_MINUTE
    return hi


def as_zone(tz: dt.tzinfo | str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz


def next_fire(schedule: CronSchedule, tz: dt.tzinfo | str, after: dt.datetime) -> dt.datetime | None:
    """The first fire instant (UTC) strictly after the aware instant `after`; None if it never fires.

    `after` is the caller's clock, so tests control time by passing it.
    """
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    tz = as_zone(tz)
    wall = schedule.next_wall_time(_wall(after, tz))
    # Instants never decrease with the wall time, so the first one past `after` is the answer;
    # the loop only runs more than once inside a repeated (fall-back) hour or a gap.
    for _ in range(100_000):
        if wall is None:
            return None
        instant = wall_to_instant(wall, tz)
        if instant > after:
            return instant
        wall = schedule.next_wall_time(wall)
    return None


def fire_times(schedule: CronSchedule, tz: dt.tzinfo | str, after: dt.datetime, until: dt.datetime,
               limit: int = 10_000) -> list[dt.datetime]:
    """Fire instants in (after, until], at most `limit` of them."""
    out: list[dt.datetime] = []
    current = after
    while len(out) < limit:
        nxt = next_fire(schedule, tz, current)
        if nxt is None or nxt > until:
            break
        out.append(nxt)
        current = nxt
    return out


def cron_text(fields: Mapping[str, str] | Iterable[str]) -> str:
    """Render stored field texts in the display form."""
    values = [fields[name] for name in FIELDS] if isinstance(fields, Mapping) else list(fields)
    return " ".join(re.sub(r"\s+", "", v) for v in values) + f" {SUFFIX}"
