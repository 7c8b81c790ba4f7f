"""Times as the original renders them: `YYYY-mm-dd HH:MM:SS +zzzz` in the business's zone."""
from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from .errors import InvalidInput

FORMAT = "%Y-%m-%d %H:%M:%S %z"


def format_time(value: dt.datetime | None, tz: zoneinfo.ZoneInfo | str | None, empty: str | None = "") -> str | None:
    """Render an aware datetime in `tz`; None renders as `empty` ('' by default, as the original)."""
    if value is None:
        return empty
    if isinstance(tz, str):
        tz = zoneinfo.ZoneInfo(tz)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return _format_second(int(value.timestamp() // 1), tz or dt.UTC)


# Bounded in bytes by construction, so it needs no byte budget (pipeline_engine/core/bounded_cache.py):
# a key is an int and a zone, a value a 25-character string, 4,096 of them well under 1 MB.
@functools.lru_cache(maxsize=4096)
def _format_second(epoch_second: int, tz: dt.tzinfo) -> str:
    # The rendering has one-second resolution, and the nodes of one run mostly
    # start and finish within the same few seconds: a status tree of 1,000
    # nodes formats a handful of distinct seconds, not 2,000 datetimes.
    return dt.datetime.fromtimestamp(epoch_second, tz).strftime(FORMAT)


def parse_time(value: str, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """Parse the formats callers send in conditions; naive values are in the business's zone."""
    value = value.strip()
    for fmt in (FORMAT, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time in the form YYYY-mm-dd HH:MM:SS") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def expected_zone(name: object, parameter: str = "expected_timezone") -> zoneinfo.ZoneInfo | None:
    """The zone a caller asked answers in (`expected_timezone`); None when none was asked.

    Raises InvalidInput naming the parameter for a value that is not a known zone name."""
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise InvalidInput(f"{parameter} must be a string")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{parameter} {name} is unknown.") from exc

