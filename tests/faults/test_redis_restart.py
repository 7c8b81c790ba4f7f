"""The broker dies in the middle of 50 runs and comes back empty.

The test starts its own redis-server (no persistence, on a free port from 6390)
so it can kill and restart it without touching the Redis other people use. Mid-way it SIGKILLs that server and starts a fresh one
on the same port: every queued message, every prefetched-but-unacknowledged
message and every countdown is gone. The engine keeps time and leases in the
database, so the reaper must re-send what was lost and every run must finish,
with no finished node running again.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from tests.faults.conftest import FaultsEnv, own_redis
from tests.faults.helpers import chain, start, summaries, wait_state

pytest.importorskip("tests.faults.components", reason="the engine's component registry is not available yet",
                    exc_type=ImportError)

pytestmark = [pytest.mark.worker]




def restart_scenario(faults: FaultsEnv, runs: int, outages: list[str]) -> dict[str, Any]:
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL: the embedded mode has no Redis to restart")
    report: dict[str, Any] = {"runs": runs, "outages": []}
    with own_redis(faults, "redis.log") as server:
        faults.start_worker("a", broker_url=server.url)
        faults.start_worker("b", broker_url=server.url)
        specs = [("bench_poll", None), ("faults_mark_slow", {"ms": 100}), ("sleep_timer", {"bk_timing": 1}),
                 ("faults_mark", None), ("bench_poll", None), ("faults_mark_slow", {"ms": 50}), ("noop", None)]
        run_ids = [start(chain(specs, prefix=f"r{i}")) for i in range(runs)]
        t0 = time.monotonic()
        for i, kind in enumerate(outages):
            # Let a part of the runs finish first: "in the middle".
            target = runs * (i + 1) // (len(outages) + 2)
            while sum(st == "FINISHED" for st in summaries(run_ids).values()) < target:
                assert time.monotonic() - t0 < 120, f"no progress before the outage\n{faults.logs()}"
                time.sleep(0.1)
            done_before = sum(st == "FINISHED" for st in summaries(run_ids).values())
            if kind == "restart":
                server.kill()
                time.sleep(1.0)
                server.start()
            else:
                server.flushall()
            report["outages"].append({"kind": kind, "finished_before": done_before,
                                      "at_s": round(time.monotonic() - t0, 2)})
        outage_end = time.monotonic()
        states = wait_state(run_ids, {"FINISHED"}, timeout=120, diagnostics=faults.logs)
        report["recovered_after_s"] = round(time.monotonic() - outage_end, 2)
        report["total_s"] = round(time.monotonic() - t0, 2)
    assert set(states.values()) == {"FINISHED"}
    reruns = [r for r in faults.probe() if r.get("rerun_after_finish")]
    assert not reruns, f"finished nodes ran again: {reruns[:5]}"
    print("\nredis-restart report:", report)
    return report


def test_redis_restarted_and_flushed_mid_runs(faults: FaultsEnv) -> None:
    """The issue's case: 50 runs, the broker killed and restarted empty once."""
    restart_scenario(faults, runs=50, outages=["restart"])


@pytest.mark.slow
def test_redis_restarted_three_times_and_flushed(faults: FaultsEnv) -> None:
    restart_scenario(faults, runs=50, outages=["restart", "flushall", "restart"])
