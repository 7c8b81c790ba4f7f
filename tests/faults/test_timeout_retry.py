"""A node's timeout force-fails it on time and stops its work; auto_retry retries exactly as configured."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from tests.faults.conftest import LEASE_SECONDS, FaultsEnv
from tests.faults.helpers import chain, only_activity, start, wait_node

pytest.importorskip("tests.faults.components", reason="the engine's component registry is not available yet",
                    exc_type=ImportError)

pytestmark = [pytest.mark.worker]


@pytest.fixture
def worker(faults: FaultsEnv) -> FaultsEnv:
    # Two pool processes: the blocked component holds one, the timeout step may need the other.
    faults.start_worker("tr", concurrency=2)
    return faults


def _events(faults: FaultsEnv, run_id: str, event: str) -> list[dict[str, Any]]:
    return [r for r in faults.probe() if r["run"] == run_id and r["event"] == event]


def _wait_events(faults: FaultsEnv, run_id: str, event: str, n: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _events(faults, run_id, event)
        if len(found) >= n:
            return found
        time.sleep(0.02)
    pytest.fail(f"expected {n} '{event}' records for run {run_id}, got {len(_events(faults, run_id, event))}\n"
                f"{faults.logs()}")


@pytest.mark.parametrize("timeout_s", [2])
def test_timeout_force_fails_within_a_second_and_stops_the_work(worker: FaultsEnv, timeout_s: int) -> None:
    from pipeline_engine import api

    tree = chain([("faults_block", {"seconds": 30}), ("noop", None)], prefix="to")
    node = only_activity(tree, "faults_block")
    tree["activities"][node]["timeout"] = timeout_s
    run_id = start(tree)
    _wait_events(worker, run_id, "execute", 1, timeout=20)
    detail = wait_node(run_id, node, lambda d: d["state"] == "FAILED", timeout=timeout_s + 10)
    observed = time.time()
    deadline = detail["start_time"] + timedelta(seconds=timeout_s)
    late = (detail["finish_time"] - deadline).total_seconds()
    observed_late = observed - deadline.timestamp()
    assert -0.25 <= late <= 1.0, f"force-failed {late:+.2f}s from its deadline"
    assert observed_late <= 1.0 + 0.1, f"FAILED became visible {observed_late:.2f}s after the deadline"
    assert "timed out" in (detail["ex_data"] or "")
    # The work is told to stop: the component sees its stop flag soon after the failure.
    stopped = _wait_events(worker, run_id, "stopped", 1, timeout=LEASE_SECONDS + 2)[0]
    told_after = stopped["t"] - detail["finish_time"].timestamp()
    assert told_after <= 1.5, f"the work was told to stop {told_after:.2f}s after the node failed"
    assert api.get_status_tree(run_id)["state"] == "FAILED"
    print(f"\ntimeout: failed {late:+.3f}s from the deadline, work stopped {told_after:.3f}s after")


def _auto_retry(worker: FaultsEnv, times: int, interval: float, expect_times: int, expect_interval: float,
                prefix: str) -> None:
    from pipeline_engine import api

    tree = chain([("faults_fail", None), ("noop", None)], prefix=prefix)
    node = only_activity(tree, "faults_fail")
    tree["activities"][node]["auto_retry"] = {"enable": True, "times": times, "interval": interval}
    run_id = start(tree)
    attempts = expect_times + 1
    execs = _wait_events(worker, run_id, "execute", attempts,
                         timeout=10 + attempts * (expect_interval + 1.5))
    # No attempt beyond the configured ones.
    time.sleep(max(1.5, expect_interval + 1.0) if expect_interval < 5 else 2.0)
    execs = _events(worker, run_id, "execute")
    assert len(execs) == attempts, f"{len(execs)} attempts, expected {attempts}"
    gaps = [b["t"] - a["t"] for a, b in zip(execs, execs[1:], strict=False)]
    for gap in gaps:
        assert expect_interval - 0.05 <= gap <= expect_interval + 1.5, f"retry gaps {gaps}"
    detail = wait_node(run_id, node, lambda d: d["state"] == "FAILED")
    assert detail["retry"] == expect_times, detail["retry"]
    histories = detail["histories"]
    assert len(histories) == expect_times, f"{len(histories)} history entries for {attempts} attempts"
    assert all(h["state"] == "FAILED" for h in histories), [h["state"] for h in histories]
    assert api.get_run_summary(run_id).state == "FAILED"
    print(f"\nauto_retry times={times} interval={interval}: {attempts} attempts, gaps "
          f"{[round(g, 2) for g in gaps]}")


def test_auto_retry_retries_exactly_as_configured(worker: FaultsEnv) -> None:
    _auto_retry(worker, times=2, interval=1, expect_times=2, expect_interval=1, prefix="ar")


def test_auto_retry_times_capped_at_ten(worker: FaultsEnv) -> None:
    _auto_retry(worker, times=50, interval=0, expect_times=10, expect_interval=0, prefix="arc")


@pytest.mark.slow
def test_auto_retry_interval_capped_at_sixty_seconds(worker: FaultsEnv) -> None:
    _auto_retry(worker, times=1, interval=600, expect_times=1, expect_interval=60, prefix="ari")
