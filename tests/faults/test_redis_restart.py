"""The broker dies in the middle of 50 runs and comes back empty.

The test starts its own redis-server (no persistence, on SOPS_FAULTS_REDIS_PORT
or a free port near 6390) so it can kill and restart it without touching the
Redis other people use. Mid-way it SIGKILLs that server and starts a fresh one
on the same port: every queued message, every prefetched-but-unacknowledged
message and every countdown is gone. The engine keeps time and leases in the
database, so the reaper must re-send what was lost and every run must finish,
with no finished node running again.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import FaultsEnv, switch_broker
from tests.faults.helpers import chain, start, summaries, wait_state

pytest.importorskip("tests.faults.components", reason="the engine's component registry is not available yet",
                    exc_type=ImportError)

pytestmark = [pytest.mark.worker]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _pick_port() -> int:
    wanted = os.environ.get("SOPS_FAULTS_REDIS_PORT")
    if wanted:
        return int(wanted)
    for port in range(6390, 6420):
        if _port_free(port):
            return port
    pytest.skip("no free port in 6390-6419 for the test's own redis-server")


class OwnRedis:
    """A redis-server of the test's own: killable and restartable, empty after every restart."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while _port_free(self.port):
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()  # this server is the test's alone


@contextmanager
def own_redis(faults: FaultsEnv) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the restart test runs its own server")
    server = OwnRedis(_pick_port(), faults.tmp / "redis.log")
    server.start()
    switch_broker(server.url, {"visibility_timeout": 3600})
    try:
        yield server
    finally:
        # Workers first: a worker whose broker is gone would spin on reconnecting.
        for worker in faults.workers:
            worker.stop()
        server.kill()


def restart_scenario(faults: FaultsEnv, runs: int, outages: list[str]) -> dict[str, Any]:
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL: the embedded mode has no Redis to restart")
    report: dict[str, Any] = {"runs": runs, "outages": []}
    with own_redis(faults) as server:
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
