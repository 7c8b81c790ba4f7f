"""The shared watcher of running components (runtime/runner.py): each piece of work is looked at
once its interval has passed, and adding work wakes the thread only when it must."""
from __future__ import annotations

import threading
import time

import pytest

from pipeline_engine.runtime import runner
from tests.conftest import wait_for


@pytest.fixture
def watcher():
    """A watcher of the test's own whose look at a piece of work is recorded, not a lease renewal."""
    w = runner._SharedWatcher()
    looked: list[tuple[int, float]] = []
    w._check = lambda watch: looked.append((watch.token, time.monotonic()))
    notified: list[int] = []
    real_notify = w._cond.notify_all

    def counting_notify() -> None:
        notified.append(1)
        real_notify()

    w._cond.notify_all = counting_notify
    w.looked, w.notified = looked, notified
    return w


def _waiting(w, longer_than: float = 0.0) -> bool:
    """Whether the thread waits for its own wake-up, more than `longer_than` seconds away."""
    with w._cond:
        return w._wakes_at > 0 and w._wakes_at - time.monotonic() > longer_than


def test_work_added_to_an_idle_watcher_is_looked_at_after_its_interval(watcher):
    first = watcher.watch("r", "k", "v", threading.Event(), interval=0.01)
    wait_for(lambda: watcher.looked, timeout=5)
    watcher.unwatch(first)
    wait_for(lambda: _waiting(watcher, longer_than=30), timeout=5)  # idle: its own wake-up is a minute away
    added = time.monotonic()
    token = watcher.watch("r", "k2", "v", threading.Event(), interval=0.05)
    wait_for(lambda: any(t == token for t, _ in watcher.looked), timeout=5)
    at = next(at for t, at in watcher.looked if t == token)
    assert 0.05 <= at - added < 2, "woken for the new work, not a minute later"
    watcher.unwatch(token)


def test_work_due_after_the_watchers_own_wake_up_does_not_wake_it_and_is_still_looked_at(watcher):
    first = watcher.watch("r", "a", "v", threading.Event(), interval=0.3)
    wait_for(lambda: _waiting(watcher), timeout=5)
    notified_before = len(watcher.notified)
    second = watcher.watch("r", "b", "v", threading.Event(), interval=0.6)
    assert len(watcher.notified) == notified_before, "a watch due later than the wake-up needs no call"
    wait_for(lambda: {t for t, _ in watcher.looked} >= {first, second}, timeout=5)
    for token in (first, second):
        watcher.unwatch(token)


def test_work_due_before_the_watchers_own_wake_up_wakes_it(watcher):
    first = watcher.watch("r", "a", "v", threading.Event(), interval=30)
    wait_for(lambda: _waiting(watcher, longer_than=10), timeout=5)
    added = time.monotonic()
    second = watcher.watch("r", "b", "v", threading.Event(), interval=0.05)
    wait_for(lambda: any(t == second for t, _ in watcher.looked), timeout=5)
    assert next(at for t, at in watcher.looked if t == second) - added < 2
    for token in (first, second):
        watcher.unwatch(token)
