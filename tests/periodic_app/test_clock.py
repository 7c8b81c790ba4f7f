"""The scheduler's clock: real time unless the SOPS_SCHEDULER_* variables shift or speed it."""
from __future__ import annotations

import datetime as dt
import time

from periodic_app import clock


def test_real_time_by_default(monkeypatch):
    for name in ("SOPS_SCHEDULER_FAKE_NOW_OFFSET", "SOPS_SCHEDULER_CLOCK_SPEED", "SOPS_SCHEDULER_CLOCK_ANCHOR"):
        monkeypatch.delenv(name, raising=False)
    assert not clock.is_fake()
    assert abs((clock.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 1
    assert clock.now().tzinfo is dt.UTC


def test_offset_and_speed(monkeypatch):
    anchor = time.time() - 10  # ten real seconds ago
    monkeypatch.setenv("SOPS_SCHEDULER_FAKE_NOW_OFFSET", "3600")
    monkeypatch.setenv("SOPS_SCHEDULER_CLOCK_SPEED", "6")
    monkeypatch.setenv("SOPS_SCHEDULER_CLOCK_ANCHOR", str(anchor))
    assert clock.is_fake()
    # anchor + 1 h + 10 s x 6
    expected = dt.datetime.fromtimestamp(anchor + 3600 + 60, dt.UTC)
    assert abs((clock.now() - expected).total_seconds()) < 1
