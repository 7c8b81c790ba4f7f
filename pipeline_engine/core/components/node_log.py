"""The log a component writes while it runs: lines kept in memory, bounded, handed back as data.

A component writes through `ctx.log` (`ctx.log.info("GET %s -> %s", url, status)`); the
engine never lets it touch storage. After each call the runtime takes the lines
(`NodeLogger.lines`) and stores them with the node attempt (run, node, version), in the
same step that records the call's outcome, so a log never outlives a rolled-back result.

Bounded: one attempt keeps at most `SOPS_NODE_LOG_MAX_CHARS` characters of messages
(default 65,536: enough for a few hundred lines of an HTTP or script summary, small next to a
node row). The runtime applies the same bound across the attempt's calls (execute, then each
poll); past it, lines are dropped and the attempt is marked truncated, with one last line
saying so.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline_engine.core.components import config

LIMIT_SETTING = "SOPS_NODE_LOG_MAX_CHARS"
DEFAULT_LIMIT = 65_536
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUNCATION_NOTE = "log truncated: this node attempt wrote more than {limit} characters"

#: one stored line: [ISO-8601 UTC time, level, message]
Line = list[str]
#: what one call of a component logged, as a walk hands it to its step:
#: (node key, node id, version, lines, whether the logger cut them)
LogEntry = tuple[str, str, str, list[Line], bool]


def limit() -> int:
    """Characters of messages one node attempt may keep (the setting, or the default)."""
    try:
        return max(0, int(config.setting(LIMIT_SETTING, DEFAULT_LIMIT)))
    except (TypeError, ValueError):
        return DEFAULT_LIMIT


def _utcnow() -> datetime:
    return datetime.now(UTC)


def line_size(line: Line) -> int:
    return len(line[2])


def bounded(existing: list[Line], new: list[Line], max_chars: int) -> tuple[list[Line], bool]:
    """`existing` followed by as many of `new` as fit in `max_chars`; whether any were dropped.

    The one truncation rule, used by the logger for one call and by the runtime across calls.
    """
    used = sum(line_size(x) for x in existing)
    kept = list(existing)
    for line in new:
        if used + line_size(line) > max_chars:
            return kept, True
        kept.append(line)
        used += line_size(line)
    return kept, False


class NodeLogger:
    """What `ctx.log` is: `debug`/`info`/`warning`/`error` with %-style arguments, like logging."""

    def __init__(self, max_chars: int | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self._max_chars = max_chars
        self.clock = clock
        self.lines: list[Line] = []
        self.truncated = False

    @property
    def max_chars(self) -> int:
        """The limit, read from the settings on the first line written: most calls of a
        component write none, and a walk makes one logger per node."""
        if self._max_chars is None:
            self._max_chars = limit()
        return self._max_chars

    def log(self, level: str, message: str, *args: Any) -> None:
        if self.truncated:
            return
        level = level.upper() if level.upper() in LEVELS else "INFO"
        try:
            text = message % args if args else str(message)
        except (TypeError, ValueError):  # a plugin's bad format string must not fail its node
            text = " ".join([str(message), *map(str, args)])
        self.lines, self.truncated = bounded(self.lines, [[self.clock().isoformat(), level, text]], self.max_chars)

    def debug(self, message: str, *args: Any) -> None:
        self.log("DEBUG", message, *args)

    def info(self, message: str, *args: Any) -> None:
        self.log("INFO", message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self.log("WARNING", message, *args)

    def error(self, message: str, *args: Any) -> None:
        self.log("ERROR", message, *args)

    def take(self) -> tuple[list[Line], bool]:
        """The lines written since the last take, and whether some were dropped; then start afresh."""
        lines, truncated = self.lines, self.truncated
        self.lines, self.truncated = [], False
        return lines, truncated
