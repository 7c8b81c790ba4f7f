"""Waiting for a task: poll its status with a growing interval until it stops or the time is up."""
from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator

from .errors import WaitTimeout
from .models import STOP_STATES, TaskStatus


def backoff_intervals(first: float, factor: float, longest: float) -> Iterator[float]:
    """first, first*factor, first*factor**2, ... capped at longest, forever."""
    if first <= 0 or factor < 1 or longest < first:
        raise ValueError("need 0 < first <= longest and factor >= 1")
    interval = first
    while True:
        yield interval
        interval = min(longest, interval * factor)


def poll_status(read_status: Callable[[], TaskStatus], *, timeout: float, until: Collection[str] = STOP_STATES,
                first_interval: float = 0.2, factor: float = 1.5, longest_interval: float = 5.0,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> TaskStatus:
    """The first status whose state is in `until`; WaitTimeout (with the last status) after `timeout` seconds."""
    if timeout < 0:
        raise ValueError("timeout must be >= 0")
    deadline = clock() + timeout
    intervals = backoff_intervals(first_interval, factor, longest_interval)
    while True:
        status = read_status()
        if status.state in until:
            return status
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(f"task still {status.state} after {timeout:g} s (waiting for one of "
                              f"{', '.join(sorted(until))})", status)
        sleep(min(next(intervals), remaining))
