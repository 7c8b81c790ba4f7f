"""pytest plugin for the coverage pass: which test runs which line of the mutated files.

Loaded with `-p mutation.tracer` before any test module is imported, so
import-time lines are seen too (they are recorded under IMPORT: a mutant on
such a line runs against every test). Before each test the lru caches of the
traced modules are cleared, so a line is credited to every test that reaches
it, not only to the first one that filled a cache (the tokenizer and the
fragment compiler are cached).

Environment: MUTATION_TRACE_FILES (os.pathsep-separated absolute paths),
MUTATION_TRACE_OUT (the JSON file written at the end of the session).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from types import FrameType
from typing import Any

import pytest

IMPORT = "<import>"

_files = frozenset(p for p in os.environ.get("MUTATION_TRACE_FILES", "").split(os.pathsep) if p)
_hits: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
_current = IMPORT
_durations: dict[str, float] = {}
_order: list[str] = []
_outcomes: dict[str, str] = {}
_lost: list[str] = []


def _local(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _hits[frame.f_code.co_filename][frame.f_lineno].add(_current)
    return _local


def _global(frame: FrameType, event: str, arg: Any) -> Any:
    if frame.f_code.co_filename in _files:
        _hits[frame.f_code.co_filename][frame.f_lineno].add(_current)
        return _local
    return None


if _files:
    sys.settrace(_global)
    threading.settrace(_global)


def _clear_caches() -> None:
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) not in _files:
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    global _current
    _clear_caches()
    _current = item.nodeid
    _order.append(item.nodeid)
    # Python drops a trace function that raises, and a test that recurses to
    # the limit makes the tracer's own call raise RecursionError. So it is set
    # again for every test, and a test that lost it is credited with every
    # line (what it ran after the loss is unknown).
    sys.settrace(_global)
    threading.settrace(_global)
    started = time.perf_counter()
    yield
    if sys.gettrace() is not _global:
        _lost.append(item.nodeid)
    _durations[item.nodeid] = time.perf_counter() - started
    _current = IMPORT


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _outcomes[report.nodeid] = "failed"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    out = os.environ.get("MUTATION_TRACE_OUT")
    if not out:
        return
    data = {
        "exitstatus": int(exitstatus),
        "tests": _order,
        "durations": _durations,
        "failed": sorted(_outcomes),
        "lost_trace": _lost,
        "lines": {path: {str(line): sorted(tests) for line, tests in lines.items()}
                  for path, lines in _hits.items()},
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
