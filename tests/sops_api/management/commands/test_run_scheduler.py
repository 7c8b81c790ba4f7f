"""run_scheduler: one tick with --once, and exactly once across processes (several on one database).

Many periodic tasks are due every minute. Afterwards every (periodic task,
scheduled minute) pair must have fired exactly once: one history row, one task.

The default version runs ~75 s of real time on an accelerated clock (10
simulated seconds per real second, shared by both processes through
SOPS_SCHEDULER_CLOCK_*), which covers about 12 simulated minutes. The long
version (`-m slow`) runs three processes on the real clock for five minutes.
"""
from __future__ import annotations

import collections
import datetime as dt
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from periodic_app import services
from periodic_app.cron import parse_cron
from periodic_app.models import PeriodicTask, PeriodicTaskHistory

ROOT = Path(__file__).resolve().parents[4]
FIRED = re.compile(r"periodic task (\d+) (fired|skipped|failed): scheduled (\S+)")

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{sd['NAME']}"
    auth = (sd.get("USER") or "") + (f":{sd['PASSWORD']}" if sd.get("PASSWORD") else "")
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    return f"postgres://{auth + '@' if auth else ''}{sd.get('HOST') or '127.0.0.1'}{port}/{sd['NAME']}"


def skip_unless_shareable_database() -> None:
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.skip("the SQLite test database is in memory, so scheduler subprocesses cannot share it; "
                        "set TEST_DATABASE_NAME to a file (make test does)")


class SimulatedClock:
    """The same formula as periodic_app.clock, so the test and the processes agree on `now`."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.anchor = time.time()

    def env(self) -> dict[str, str]:
        if self.speed == 1:
            return {}
        return {"SOPS_SCHEDULER_CLOCK_SPEED": str(self.speed), "SOPS_SCHEDULER_CLOCK_ANCHOR": repr(self.anchor)}

    def now(self) -> dt.datetime:
        real = time.time()
        return dt.datetime.fromtimestamp(self.anchor + (real - self.anchor) * self.speed, tz=dt.UTC)


def start_scheduler(index: int, clock: SimulatedClock, log_dir: Path) -> tuple[subprocess.Popen, Path]:
    env = dict(os.environ)
    for key in ("SOPS_SCHEDULER_FAKE_NOW_OFFSET", "SOPS_SCHEDULER_CLOCK_SPEED", "SOPS_SCHEDULER_CLOCK_ANCHOR"):
        env.pop(key, None)
    env.update(clock.env())
    env.update({
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SOPS_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_SETTINGS_MODULE": "sops_api.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    log_path = log_dir / f"scheduler-{index}.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "manage.py", "run_scheduler", "--interval", "0.2"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log_path


def stop_schedulers(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 60) -> list[int | str]:
    """SIGTERM each scheduler and wait for it. One still running after `timeout` is asked for its
    threads' stacks (SIGUSR1, into its log) and killed, so its log says where its tick waited and
    its database session does not outlive the test; its code is then "killed"."""
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    codes: list[int | str] = []
    for proc, _ in procs:
        try:
            codes.append(proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            proc.kill()
            proc.wait()
            codes.append("killed")
    return codes


def run_exactly_once(world: Any, tmp_path: Path, *, tasks: int, processes: int, real_seconds: float,
                     speed: float) -> dict[str, Any]:
    skip_unless_shareable_database()
    clock = SimulatedClock(speed)
    created_at = clock.now()
    periodic = [
        services.create_periodic_task(business=world.business, template=world.quick_template, name=f"every minute {i}",
                                      cron=parse_cron({"minute": "*"}), creator="admin", enabled=True,
                                      now=created_at)
        for i in range(tasks)
    ]
    first_due = periodic[0].next_run_at
    procs = [start_scheduler(i, clock, tmp_path) for i in range(processes)]
    try:
        time.sleep(real_seconds)
    finally:
        stop_sent = clock.now()
        codes = stop_schedulers(procs)
    logs = {path.name: path.read_text() for _, path in procs}
    assert codes == [0] * processes, (codes, {k: v[-3000:] for k, v in logs.items()})
    for name, text in logs.items():
        assert "scheduler stopped" in text, f"{name} did not stop gracefully:\n{text[-3000:]}"
        assert "Traceback" not in text, f"{name} logged an error:\n{text[-5000:]}"
        assert "duplicate firing prevented" not in text and "already handled" not in text, name

    # Every minute from the first due one up to the last one before the stop signal is due.
    last_due = stop_sent.replace(second=0, microsecond=0)
    expected_minutes = int((last_due - first_due).total_seconds() // 60) + 1
    expected = {first_due + dt.timedelta(minutes=i) for i in range(expected_minutes)}

    from tasks_app.models import TaskInstance

    per_process = collections.Counter()
    fired_pairs = collections.Counter()
    for name, text in logs.items():
        for match in FIRED.finditer(text):
            per_process[name] += 1
            fired_pairs[(int(match.group(1)), match.group(3))] += 1
    history = collections.defaultdict(list)
    for entry in PeriodicTaskHistory.objects.all():
        history[entry.periodic_task_id].append(entry)
    tasks_by_periodic = collections.Counter(
        TaskInstance.objects.filter(periodic_task_id__isnull=False).values_list("periodic_task_id", flat=True))
    late = 0
    for task in periodic:
        entries = history[task.pk]
        scheduled = [e.scheduled_at for e in entries]
        assert len(scheduled) == len(set(scheduled)), f"periodic task {task.pk} fired a minute twice"
        assert set(scheduled) >= expected, (
            f"periodic task {task.pk} missed {sorted(expected - set(scheduled))[:5]}")
        # At most the minute in flight when the stop signal came may follow.
        assert len(set(scheduled) - expected) <= 1, sorted(set(scheduled) - expected)
        assert all(e.success for e in entries), [e.reason for e in entries if not e.success][:3]
        late += sum(e.late for e in entries)
        assert tasks_by_periodic[task.pk] == len(entries), (
            f"periodic task {task.pk}: {tasks_by_periodic[task.pk]} tasks for {len(entries)} fire times")
        row = PeriodicTask.objects.get(pk=task.pk)
        assert row.total_run_count == len(entries)
    assert all(count == 1 for count in fired_pairs.values()), [p for p, c in fired_pairs.items() if c > 1][:5]
    total = sum(len(v) for v in history.values())
    assert sum(per_process.values()) == total
    names = list(TaskInstance.objects.filter(periodic_task_id__isnull=False).values_list("periodic_task_id", "name"))
    assert len(names) == len(set(names))
    lateness = [(e.fired_at - e.scheduled_at).total_seconds() for v in history.values() for e in v]
    return {
        "vendor": connection.vendor, "processes": processes, "periodic_tasks": tasks,
        "simulated_minutes": expected_minutes, "firings": total, "expected_pairs": tasks * expected_minutes,
        "per_process": dict(per_process), "duplicates": 0, "late": late,
        "max_lateness_s": round(max(lateness), 2) if lateness else None,
        "mean_lateness_s": round(sum(lateness) / len(lateness), 2) if lateness else None,
        "speed": speed,
    }


def report(result: dict[str, Any]) -> None:
    print("\nexactly-once:", " ".join(f"{k}={v}" for k, v in result.items()))


def test_two_schedulers_fire_every_minute_exactly_once(pt_world: Any, tmp_path: Path) -> None:
    result = run_exactly_once(pt_world, tmp_path, tasks=30, processes=2, real_seconds=75, speed=10)
    report(result)
    assert result["simulated_minutes"] >= 10
    # With the work split by SKIP LOCKED both processes fire (SQLite serialises, so one may do most).
    if connection.vendor == "postgresql":
        assert all(count > 0 for count in result["per_process"].values()), result


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_three_schedulers_on_the_real_clock_for_five_minutes(pt_world: Any, tmp_path: Path) -> None:
    result = run_exactly_once(pt_world, tmp_path, tasks=30, processes=3, real_seconds=300, speed=1)
    report(result)
    assert result["simulated_minutes"] >= 4
    assert result["late"] == 0
    assert not math.isnan(result["mean_lateness_s"])


def test_run_scheduler_once(pt_world: Any) -> None:
    from tasks_app.models import TaskInstance

    periodic = services.create_periodic_task(
        business=pt_world.business, template=pt_world.quick_template, name="nightly", cron=parse_cron({}),
        creator="admin", enabled=True, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # long overdue
    call_command("run_scheduler", "--once", "--no-sweep")
    assert TaskInstance.objects.filter(periodic_task_id=periodic.pk).count() == 1
    assert PeriodicTaskHistory.objects.get(periodic_task=periodic).late


def test_run_scheduler_passes_its_firing_threads_to_the_periodic_tick(pt_world: Any, monkeypatch) -> None:
    from periodic_app import scheduler

    seen: list[int | None] = []
    monkeypatch.setattr(scheduler, "tick", lambda **kw: seen.append(kw["threads"]) or [])
    call_command("run_scheduler", "--once", "--no-sweep", "--firing-threads", "3")
    call_command("run_scheduler", "--once", "--no-sweep")  # the setting's default
    assert seen == [3, scheduler.firing_threads()] and scheduler.firing_threads() == 2


@pytest.mark.django_db(transaction=True)
def test_sigusr1_writes_every_threads_stack_and_the_scheduler_goes_on(tmp_path: Path) -> None:
    """What stop_schedulers asks of a scheduler whose tick does not end: where each thread is."""
    skip_unless_shareable_database()
    procs = [start_scheduler(0, SimulatedClock(1), tmp_path)]
    proc, log_path = procs[0]
    try:
        deadline = time.monotonic() + 60
        while "scheduler started" not in log_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGUSR1)
        while "Current thread" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert proc.poll() is None  # a stack dump does not stop it
    finally:
        codes = stop_schedulers(procs)
    text = log_path.read_text()
    assert codes == [0], text[-3000:]
    assert "Current thread" in text and 'File "' in text and "run_scheduler.py" in text, text[-3000:]
    assert "scheduler stopped" in text
