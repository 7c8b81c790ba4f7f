"""The locust row's CPU per process counts a process that ended while it ran (a PostgreSQL backend
closed at CONN_MAX_AGE): bench/task_scenarios.ProcessCpu.used_during samples as it goes."""
from __future__ import annotations

import subprocess
import sys
import time

from bench.harness import cpu_seconds
from bench.task_scenarios import ProcessCpu

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"


class _Tracked(ProcessCpu):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(None, None)
        self.pids = pids

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {"web": {pid: cpu_seconds(pid) for pid in self.pids}, "worker": {}, "postgres": {}}


def _burn_and_wait() -> tuple[_Tracked, subprocess.Popen]:
    child = subprocess.Popen([sys.executable, "-c", BURN])
    return _Tracked([child.pid]), child


def test_a_process_that_ends_during_the_work_keeps_the_cpu_it_used():
    meter, child = _burn_and_wait()

    def work() -> str:
        child.wait()  # the child exits, reaped, before the work ends: /proc no longer has it
        time.sleep(0.1)
        return "done"

    # Counted at the two ends only, as the row did, the child is gone at the end: 0.0 seconds.
    result, used = meter.used_during(work, every=0.05)
    assert result == "done"
    assert used["web"] >= 0.25

