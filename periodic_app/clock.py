"""The scheduler's clock: real time, or a shifted/accelerated one for tests.

Tests of the in-process scheduler pass `now` explicitly. Tests that run the
`run_scheduler` command as separate processes cannot, so the clock reads three
environment variables (all unset in production):

* ``SOPS_SCHEDULER_FAKE_NOW_OFFSET`` — seconds added to the real time;
* ``SOPS_SCHEDULER_CLOCK_SPEED`` — how many simulated seconds pass per real second;
* ``SOPS_SCHEDULER_CLOCK_ANCHOR`` — the real Unix time at which simulated time equals
  real time plus the offset. Processes that must agree on the simulated time
  (two schedulers) share the anchor.
"""
from __future__ import annotations

import datetime as dt
import os
import time

_PROCESS_START = time.time()


def is_fake() -> bool:
    return any(os.environ.get(name) for name in
               ("SOPS_SCHEDULER_FAKE_NOW_OFFSET", "SOPS_SCHEDULER_CLOCK_SPEED"))


def now() -> dt.datetime:
    """The current instant (aware, UTC) as the scheduler sees it."""
    real = time.time()
    offset = float(os.environ.get("SOPS_SCHEDULER_FAKE_NOW_OFFSET") or 0)
    speed = float(os.environ.get("SOPS_SCHEDULER_CLOCK_SPEED") or 1)
    anchor = float(os.environ.get("SOPS_SCHEDULER_CLOCK_ANCHOR") or _PROCESS_START)
    simulated = anchor + offset + (real - anchor) * speed
    return dt.datetime.fromtimestamp(simulated, tz=dt.UTC)
