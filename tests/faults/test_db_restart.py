"""The database server restarts under a running service: no request, no lease and no step is lost to it.

The test runs the whole service against a PostgreSQL server of its own
(tests/faults/postgres_server.py; the machine's shared server is never
touched): gunicorn with two web workers, a Celery worker with two pool
processes (its engine sweeper thread included) and `run_scheduler` on an
accelerated clock (SOPS_SCHEDULER_CLOCK_SPEED, as tests/periodic does, so a
periodic task due every minute fires every few real seconds), all with
persistent connections (CONN_MAX_AGE 60 s), on the private Redis of the fault
tests. Then:

1. **Mid-run restart.** 50 runs (timers, polls, slow nodes and inline nodes in
   a chain) are started through the API; once about a third have finished
   the server is stopped the way an operator's restart stops it (fast
   shutdown: open transactions are cut, nothing committed is lost) and
   started again after `DOWN_SECONDS`.
2. **Idle restart.** With nothing running and nobody calling, the server is
   restarted, so every process holds a connection the restart killed; at once
   16 get_task_status calls are made and a 30-node chain is started (the
   issue's figures: 4 of 16 calls answered 3599999, the chain waited a lease).
3. **Outage.** The server is stopped; an API read, an API write, /healthz and
   an operator command are tried; it is started again.

A slow variant (`-m slow`) crashes the server instead (immediate shutdown)
in the middle of the 50 runs.

What must hold:

- every run finishes, and no node the database had recorded as finished runs
  again (the fault components check it when they run);
- no API call answers 3599999 or a 5xx: calls made while the server is down
  answer the "service unavailable" envelope (code 3550300, HTTP 200), calls
  made once it accepts connections again succeed; /healthz answers 503 naming
  the database while it is down, 200 after;
- an operator command run while it is down fails with one line, no traceback;
- no run waits for a lease because of the restart: the longest time any run
  goes without an engine write (node started or finished) stays below the
  lease (`LEASE_SECONDS`, long on purpose so a lease wait stands out). The
  only exception the engine allows is a step whose transaction the shutdown
  cut after it had written (an error after writes is never retried, see
  pipeline_engine/runtime/db_retry.py): the worker logs each one ("not
  retried"), there is at most one per pool process, and only such runs may
  wait for the lease; the 30-node chain after the idle restart finishes
  within the lease;
- the scheduler fires every minute exactly once, none of them late, and logs
  no failed tick or sweep.

The figures (recovery time, API answers per phase, the longest delay against
the lease) are printed as the "db-restart report".
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.faults import postgres_server
from tests.faults.conftest import FAULTS_COMPONENTS, ROOT, Worker, _purge_redis_db, redis_broker
from tests.faults.helpers import chain
from tests.faults.probe import PROBE_ENV, read_probe

pytest.importorskip("tests.faults.components", reason="the engine's component registry is not available yet",
                    exc_type=ImportError)

pytestmark = [pytest.mark.worker]

# Long enough that waiting for a lease (the defect) stands apart from ordinary delays (a timer of 1 s,
# a queue behind 50 runs: about 5 s on two pool processes), short enough to keep the test bounded.
LEASE_SECONDS = int(os.environ.get("SOPS_FAULTS_DB_LEASE_SECONDS", "15"))
SWEEP_INTERVAL = 0.5
DOWN_SECONDS = 2.0
CLOCK_SPEED = 10.0  # simulated seconds per real second: a simulated minute every 6 s
UNAVAILABLE = 3550300
UNKNOWN = 3599999
CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
BIZ = 2
MID_RUN_SPECS: list[tuple[str, dict[str, Any] | None]] = [
    ("bench_poll", None), ("faults_mark_slow", {"ms": 100}), ("sleep_timer", {"bk_timing": 1}),
    ("faults_mark", None), ("bench_poll", None), ("faults_mark_slow", {"ms": 50}), ("noop", None)]
LONG_CHAIN_SPECS: list[tuple[str, dict[str, Any] | None]] = [("faults_mark_slow", {"ms": 10})] * 30
QUICK_SPECS: list[tuple[str, dict[str, Any] | None]] = [("noop", None)]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Call:
    """One HTTP call: when it started and ended (monotonic), what it answered."""

    what: str
    started: float
    ended: float
    http: int
    code: int | None
    result: bool | None
    body: Any = None


@dataclass
class Service:
    pg: postgres_server.OwnPostgres
    tmp: Path
    env: dict[str, str]
    base_url: str
    web: subprocess.Popen
    scheduler: subprocess.Popen
    worker: Worker
    templates: dict[str, int]
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- HTTP -------------------------------------------------------------------------------
    def call(self, what: str, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float = 30) -> Call:
        import requests

        started = time.monotonic()
        url = self.base_url + path
        try:
            if method == "GET":
                response = requests.get(url, params={**CREDS, **(body or {})}, timeout=timeout)
            else:
                response = requests.post(url, data=json.dumps({**CREDS, **(body or {})}), timeout=timeout)
            http = response.status_code
            try:
                payload = response.json()
            except ValueError:
                payload = response.text[:300]
        except requests.RequestException as exc:
            http, payload = -1, repr(exc)
        code = payload.get("code") if isinstance(payload, dict) else None
        result = payload.get("result") if isinstance(payload, dict) else None
        record = Call(what, started, time.monotonic(), http, code, result, payload)
        with self.lock:
            self.calls.append(record)
        return record

    def healthz(self) -> Call:
        import requests

        started = time.monotonic()
        try:
            response = requests.get(self.base_url + "healthz", timeout=10)
            http, payload = response.status_code, response.json()
        except (requests.RequestException, ValueError) as exc:
            http, payload = -1, repr(exc)
        record = Call("healthz", started, time.monotonic(), http, None, None, payload)
        with self.lock:
            self.calls.append(record)
        return record

    def start_run(self, template: str) -> int:
        call = self.call("create_and_start_task", "POST",
                         f"apigw/create_and_start_task/{self.templates[template]}/{BIZ}/",
                         {"name": f"db-fault {template}"})
        assert call.result is True, call
        return int(call.body["data"]["task_id"])

    def states(self, task_ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for i in range(0, len(task_ids), 50):
            call = self.call("get_tasks_status", "POST", f"apigw/get_tasks_status/{BIZ}/",
                             {"task_id_list": task_ids[i:i + 50]})
            if call.result is not True:
                return {}
            for item in call.body["data"]:
                out[int(item["id"])] = item["status"]["state"] if item.get("status") else "CREATED"
        return out

    def wait_finished(self, task_ids: list[int], timeout: float) -> dict[int, str]:
        deadline = time.monotonic() + timeout
        states: dict[int, str] = {}
        while time.monotonic() < deadline:
            states = self.states(task_ids) or states
            if len(states) == len(task_ids) and set(states.values()) == {"FINISHED"}:
                return states
            time.sleep(0.25)
        pytest.fail(f"not all runs finished in {timeout}s: {Counter(states.values())}\n{self.logs()}")

    # --- evidence -------------------------------------------------------------------------
    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        return self.pg.execute("sops", statement, params)

    def run_ids(self, task_ids: list[int]) -> dict[str, int]:
        rows = self.sql("SELECT run_id, id FROM tasks_app_taskinstance WHERE id = ANY(%s)", (task_ids,))
        return {run_id: task_id for run_id, task_id in rows}

    def longest_gaps(self, run_ids: list[str]) -> dict[str, tuple[float, float]]:
        """Per run: the longest time without an engine write, and when (wall clock) that gap ended.

        Engine writes: the run's start and finish, each node's start and finish. A run whose work
        waited for a lease shows a gap of at least the lease.
        """
        stamps: dict[str, list[float]] = {rid: [] for rid in run_ids}
        for rid, started, finished in self.sql(
                "SELECT id, started_at, finished_at FROM pipeline_engine_run WHERE id = ANY(%s)", (run_ids,)):
            stamps[rid] += [t.timestamp() for t in (started, finished) if t]
        for rid, started, finished in self.sql(
                "SELECT run_id, started_at, finished_at FROM pipeline_engine_nodestate WHERE run_id = ANY(%s)",
                (run_ids,)):
            stamps[rid] += [t.timestamp() for t in (started, finished) if t]
        gaps: dict[str, tuple[float, float]] = {}
        for rid, times in stamps.items():
            times.sort()
            pairs = list(zip(times, times[1:], strict=False))
            gap, end = max(((b - a, b) for a, b in pairs), default=(0.0, 0.0))
            gaps[rid] = (gap, end)
        return gaps

    def simulated(self, real: float) -> float:
        """The scheduler's (accelerated) clock at real time `real` (periodic_app.clock's formula)."""
        anchor = float(self.env["SOPS_SCHEDULER_CLOCK_ANCHOR"])
        return anchor + (real - anchor) * CLOCK_SPEED

    def worker_log(self) -> str:
        return self.worker.log_path.read_text(errors="replace")

    def scheduler_log(self) -> str:
        return (self.tmp / "scheduler.log").read_text(errors="replace")

    def web_log(self) -> str:
        return (self.tmp / "web.log").read_text(errors="replace")

    def logs(self) -> str:
        def tail(text: str, n: int = 12) -> str:
            return "\n".join(line[:400] for line in text.splitlines()[-n:])

        return (f"--- worker ---\n{tail(self.worker_log())}\n--- scheduler ---\n{tail(self.scheduler_log())}\n"
                f"--- web ---\n{tail(self.web_log())}")


def _manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def db_service(tmp_path: Path, faults_redis_url: str | None) -> Iterator[Service]:
    from django.db import connection

    if connection.vendor != "postgresql" or not redis_broker() or not faults_redis_url:
        pytest.skip("needs PostgreSQL and a Redis broker (DATABASE_URL, CELERY_BROKER_URL): the embedded "
                    "default has no database server to restart")
    reason = postgres_server.unavailable_reason()
    if reason:
        pytest.skip(f"the database restart test runs a PostgreSQL server of its own: {reason}")
    _purge_redis_db(faults_redis_url)
    pg = postgres_server.OwnPostgres()
    procs: list[subprocess.Popen] = []
    worker: Worker | None = None
    try:
        pg.init()
        pg.start()
        pg.execute("postgres", "CREATE DATABASE sops")
        (tmp_path / "var").mkdir()
        env = dict(os.environ)
        for key in ("SOPS_SCHEDULER_FAKE_NOW_OFFSET", "TEST_DATABASE_NAME", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(key, None)
        env.update({
            "DJANGO_SETTINGS_MODULE": "sops_api.settings",
            "DATABASE_URL": pg.url("sops"),
            "CELERY_BROKER_URL": faults_redis_url,
            "SOPS_CELERY_QUEUE": "dbfaults",
            "SOPS_VAR_DIR": str(tmp_path / "var"),
            "SOPS_REAPER_LEASE_SECONDS": str(LEASE_SECONDS),
            "SOPS_REAPER_INTERVAL_SECONDS": str(SWEEP_INTERVAL),
            "SOPS_COMPONENT_MODULES": ",".join(filter(None, [os.environ.get("SOPS_COMPONENT_MODULES", ""),
                                                             FAULTS_COMPONENTS])),
            "SOPS_AUTH_CACHE_SECONDS": "0",  # every call reads the database, as after a cache expiry
            "SOPS_SCHEDULER_CLOCK_SPEED": str(CLOCK_SPEED),
            "SOPS_SCHEDULER_CLOCK_ANCHOR": repr(time.time()),
            PROBE_ENV: str(tmp_path / "probe.jsonl"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "plain",
        })
        for args in (["migrate", "--noinput", "-v", "0"], ["bootstrap_demo", "--spec-placeholders"]):
            done = _manage(env, *args)
            assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
        items = [{"name": name, "category": "Other", "pipeline_tree": chain(specs, prefix=name)}
                 for name, specs in (("midrun", MID_RUN_SPECS), ("long", LONG_CHAIN_SPECS), ("quick", QUICK_SPECS))]
        (tmp_path / "templates.json").write_text(json.dumps(items))
        done = _manage(env, "import_templates", str(tmp_path / "templates.json"), "--bk-biz-id", str(BIZ), "--json")
        assert done.returncode == 0, done.stderr[-3000:]
        templates = {t["name"]: t["id"] for t in json.loads(done.stdout)}

        port = free_port()
        bin_dir = Path(sys.executable).parent
        with open(tmp_path / "web.log", "ab") as log:
            web = subprocess.Popen([str(bin_dir / "gunicorn"), "sops_api.wsgi:application", "--config",
                                    "python:sops_api.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(web)
        with open(tmp_path / "scheduler.log", "ab") as log:
            scheduler = subprocess.Popen([sys.executable, "manage.py", "run_scheduler", "--interval", "0.2"],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        procs.append(scheduler)
        worker = Worker("db", env, tmp_path, concurrency=2)
        worker.start()
        _wait_http(f"http://127.0.0.1:{port}/healthz", web, tmp_path / "web.log")
        yield Service(pg, tmp_path, env, f"http://127.0.0.1:{port}/", web, scheduler, worker, templates)
    finally:
        if worker is not None:
            worker.stop()
        for proc in procs:
            _stop(proc)
        pg.remove()


class Prober(threading.Thread):
    """Calls get_task_status (and /healthz every few calls) all along, as an API caller would."""

    def __init__(self, service: Service, task_ids: list[int], interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="db-fault-prober")
        self.service, self.task_ids, self.interval = service, task_ids, interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop_event.wait(self.interval):
            task_id = self.task_ids[i % len(self.task_ids)]
            self.service.call("get_task_status", "GET", f"apigw/get_task_status/{task_id}/{BIZ}/")
            if i % 5 == 0:
                self.service.healthz()
            i += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)


def classify(calls: list[Call], down: float, up: float) -> dict[str, list[Call]]:
    """before: ended before the stop; during: overlapped the outage; after: started once it accepted again."""
    out: dict[str, list[Call]] = {"before": [], "during": [], "after": []}
    for c in calls:
        if c.ended < down:
            out["before"].append(c)
        elif c.started >= up:
            out["after"].append(c)
        else:
            out["during"].append(c)
    return out


def answers(calls: list[Call]) -> dict[str, int]:
    def key(c: Call) -> str:
        if c.what == "healthz":
            return f"healthz {c.http}"
        return f"{c.http} {c.code}"

    return dict(Counter(key(c) for c in calls))


def check_outage_answers(phases: dict[str, list[Call]]) -> None:
    bad_after = [c for c in phases["after"] if (c.what == "healthz" and c.http != 200)
                 or (c.what != "healthz" and (c.http != 200 or c.result is not True))]
    assert not bad_after, f"calls made after the database was back failed: {[(c.what, c.http, c.body) for c in bad_after[:5]]}"
    for c in phases["during"]:
        if c.what == "healthz":
            assert c.http in (200, 503), c
            if c.http == 503:
                assert c.body["checks"]["database"] != "ok" and c.body["checks"]["broker"] == "ok", c.body
        else:
            assert c.http == 200 and c.code != UNKNOWN, (c.http, c.body)
            assert c.result is True or c.code == UNAVAILABLE, (c.http, c.body)
            if c.code == UNAVAILABLE:
                assert "unavailable" in c.body["message"], c.body


CUT_AFTER_WRITE = re.compile(r"run=(\w+) .*not retried")


def cut_runs(log: str) -> set[str]:
    """Runs whose step the shutdown cut after it had written (logged by the engine, never retried)."""
    return set(CUT_AFTER_WRITE.findall(log))


def enable_periodic(svc: Service) -> None:
    """A periodic task due every (simulated) minute, fired by the scheduler throughout the test."""
    created = svc.call("create_periodic_task", "POST", f"apigw/create_periodic_task/{svc.templates['quick']}/{BIZ}/",
                       {"name": "every minute", "cron": {"minute": "*"}})
    assert created.result is True, created.body
    periodic_id = created.body["data"]["id"]
    enabled = svc.call("set_periodic_task_enabled", "POST",
                       f"apigw/set_periodic_task_enabled/{periodic_id}/{BIZ}/", {"enabled": True})
    assert enabled.result is True, enabled.body


def mid_run_restart(svc: Service, mode: str, report: dict[str, Any]) -> tuple[list[int], dict[str, list[Call]]]:
    """50 runs; the server restarted (`mode`) once a third have finished, while a prober calls the API."""
    t0 = time.monotonic()
    tasks = [svc.start_run("midrun") for _ in range(50)]
    prober = Prober(svc, tasks)
    prober.start()
    try:
        while True:
            states = svc.states(tasks)
            if sum(st == "FINISHED" for st in states.values()) >= len(tasks) // 3:
                break
            assert time.monotonic() - t0 < 60, f"no progress before the restart: {Counter(states.values())}\n{svc.logs()}"
            time.sleep(0.1)
        report["finished_before_restart"] = sum(st == "FINISHED" for st in states.values())
        down = time.monotonic()
        restart = svc.pg.restart(mode, down_for=DOWN_SECONDS)
        up, up_wall = time.monotonic(), time.time()
        svc.wait_finished(tasks, timeout=90)
        report["mid_run"] = {"mode": mode, "stop_s": restart["stop_s"], "down_s": restart["down_s"],
                             "all_finished_after_s": round(time.monotonic() - up, 2)}
        time.sleep(0.5)
    finally:
        prober.stop()
    phases = classify(svc.calls, down, up)
    first_ok = min((c.ended for c in phases["after"] if c.what != "healthz" and c.result is True), default=None)
    report["mid_run"]["api_recovered_s"] = round(first_ok - up, 2) if first_ok else None
    report["mid_run"]["answers"] = {phase: answers(calls) for phase, calls in phases.items()}
    first_write = svc.sql("SELECT min(finished_at) FROM pipeline_engine_nodestate WHERE finished_at > to_timestamp(%s)",
                          (up_wall,))[0][0]
    report["mid_run"]["engine_recovered_s"] = round(first_write.timestamp() - up_wall, 2) if first_write else None
    return tasks, phases


def runs_report(svc: Service, tasks: list[int], report: dict[str, Any]) -> None:
    """The longest delay of each run against the lease, the runs cut mid-write, re-runs of finished nodes."""
    gaps = svc.longest_gaps(list(svc.run_ids(tasks)))
    worst_run, (worst, _) = max(gaps.items(), key=lambda kv: kv[1][0])
    waited = {rid: round(g, 2) for rid, (g, _end) in gaps.items() if g >= LEASE_SECONDS}
    cut = cut_runs(svc.worker_log())
    reruns = [r for r in read_probe(svc.tmp / "probe.jsonl") if r.get("rerun_after_finish")]
    report.update({
        "longest_delay_s": round(worst, 2), "worst_run": worst_run,
        "top_delays_s": sorted((round(g, 2) for g, _ in gaps.values()), reverse=True)[:5],
        "runs_waiting_a_lease": waited, "runs_cut_after_write": sorted(cut),
        "lease_recoveries_logged": len(re.findall(r"lease expired, work re-sent", svc.worker_log()
                                                  + svc.scheduler_log())),
        "reruns_of_finished_nodes": reruns[:5],
    })


def check_runs(svc: Service, report: dict[str, Any], *, lease_waits_allowed: bool) -> None:
    assert not report["reruns_of_finished_nodes"], f"finished nodes ran again: {report['reruns_of_finished_nodes']}"
    if lease_waits_allowed:
        return
    cut, waited = set(report["runs_cut_after_write"]), report["runs_waiting_a_lease"]
    # At most one transaction cut per process that steps runs (the two pool processes).
    assert len(cut) <= 2, cut
    assert set(waited) <= cut, (f"runs waited for a lease ({LEASE_SECONDS}s) because of the restart: {waited}"
                                f"\n{svc.logs()}")


def scheduler_report(svc: Service, report: dict[str, Any]) -> tuple[int, dict[float, float], str]:
    """Wait for the first minute due after the restarts; returns it, the firings (scheduled -> fired), the log."""
    next_minute = (int(svc.simulated(time.time())) // 60 + 1) * 60
    time.sleep(max(0.0, (next_minute - svc.simulated(time.time())) / CLOCK_SPEED) + 2.0)
    sched = svc.scheduler_log()
    firings = re.findall(r"periodic task (\d+) (fired|skipped|failed): scheduled (\S+), fired (\S+?)(,| \(late)", sched)
    fired = {_iso(f[2]): _iso(f[3]) for f in firings}
    report["scheduler"] = {
        "firings": len(firings), "late": sum(f[4] == " (late" for f in firings),
        "repeated": sum(n - 1 for n in Counter(f[2] for f in firings).values()),
        "next_minute_fired_after_s": (round((fired[next_minute] - next_minute) / CLOCK_SPEED, 2)
                                      if next_minute in fired else None),
        "failed_ticks_or_sweeps": len(re.findall(r"tick failed|sweep failed|re-dispatch failed", sched)),
        "cut_after_write": len(re.findall(r"not retried", sched)),
        "tracebacks": sched.count("Traceback"),
    }
    return next_minute, fired, sched


def check_scheduler(report: dict[str, Any], next_minute: int, fired: dict[float, float], sched: str) -> None:
    """Every minute fired once, none late, the first one after the restarts on time; no tick or sweep
    failed but one the restart cut after it had written (never retried; the next tick does its work)."""
    got = report["scheduler"]
    assert got["failed_ticks_or_sweeps"] <= got["cut_after_write"] and got["tracebacks"] == 0, sched[-4000:]
    assert got["repeated"] == 0 and got["late"] == 0, got
    assert next_minute in fired, f"the first minute after the restarts did not fire:\n{sched[-3000:]}"
    # On time: within a few scheduler ticks (0.2 s real, i.e. 2 simulated seconds each).
    assert fired[next_minute] - next_minute < 1.5 * CLOCK_SPEED, (next_minute, fired[next_minute])
    minutes = sorted(fired)
    assert all(b - a == 60 for a, b in zip(minutes, minutes[1:], strict=False)), (
        f"a minute was skipped: {[time.strftime('%H:%M', time.gmtime(m)) for m in minutes]}")


def print_report(svc: Service, report: dict[str, Any]) -> None:
    report["restarts"] = [{k: v for k, v in s.items() if k not in ("t0", "up_at")} for s in svc.pg.stops]
    print("\ndb-restart report:", json.dumps(report, default=str))


def test_database_restart_mid_runs_and_idle(db_service: Service) -> None:
    """The issue's case: a restart in the middle of 50 runs, one while idle, and the outage itself."""
    svc = db_service
    report: dict[str, Any] = {"lease_s": LEASE_SECONDS, "down_s": DOWN_SECONDS}
    enable_periodic(svc)

    # --- 1. restart in the middle of 50 runs --------------------------------------------------------
    tasks, mid_phases = mid_run_restart(svc, "fast", report)

    # --- 2. restart while idle, nobody calling: every process keeps a connection the restart killed --
    time.sleep(1.0)
    svc.pg.restart("fast", down_for=0.5)
    up = time.monotonic()
    idle_calls = [svc.call("get_task_status", "GET", f"apigw/get_task_status/{tasks[i % len(tasks)]}/{BIZ}/")
                  for i in range(16)]
    long_started = time.monotonic()
    long_task = svc.start_run("long")
    svc.wait_finished([long_task], timeout=60)
    long_s = time.monotonic() - long_started
    report["idle"] = {"down_s": svc.pg.stops[-1]["down_s"], "calls_after": answers(idle_calls),
                      "first_call_after_s": round(idle_calls[0].ended - up, 3), "chain30_s": round(long_s, 2)}

    # --- 3. what callers and operators see while the server is down ---------------------------------
    calls_before_outage = len(svc.calls)
    down = time.monotonic()
    svc.pg.stop("fast")
    unavailable_call = svc.call("get_task_status", "GET", f"apigw/get_task_status/{tasks[0]}/{BIZ}/")
    write_call = svc.call("create_task", "POST", f"apigw/create_task/{svc.templates['quick']}/{BIZ}/",
                          {"name": "during the outage"})
    health_down = svc.healthz()
    command = _manage(svc.env, "create_business", "--bk-biz-id", "77", "--name", "during the outage", timeout=60)
    svc.pg.start()
    up = time.monotonic()
    svc.pg.stops.append({"mode": "fast (outage probe)", "down_s": round(up - down, 2)})
    health_up = svc.healthz()
    read_up = svc.call("get_task_status", "GET", f"apigw/get_task_status/{tasks[0]}/{BIZ}/")
    report["outage"] = {
        "get_task_status": (unavailable_call.http, unavailable_call.code),
        "create_task": (write_call.http, write_call.code),
        "healthz": (health_down.http, (health_down.body or {}).get("checks") if isinstance(
            health_down.body, dict) else health_down.body),
        "operator_command": (command.returncode, command.stderr.strip().splitlines()[-3:]),
        "after": answers([health_up, read_up]),
    }

    # --- 4. the scheduler, the runs, the answers -------------------------------------------------
    next_minute, fired, sched = scheduler_report(svc, report)
    runs_report(svc, [*tasks, long_task], report)
    print_report(svc, report)
    check_outage_answers(mid_phases)
    check_outage_answers(classify(svc.calls[calls_before_outage:], down, up))
    assert unavailable_call.http == 200 and unavailable_call.code == UNAVAILABLE, unavailable_call.body
    assert write_call.http == 200 and write_call.code == UNAVAILABLE, write_call.body
    assert health_down.http == 503 and health_down.body["checks"]["database"] != "ok", health_down.body
    assert command.returncode == 1, (command.stdout, command.stderr)
    err = command.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and "database unavailable" in err, err
    assert all(c.http == 200 and c.result is True for c in idle_calls), [(c.http, c.body) for c in idle_calls]
    assert health_up.http == 200 and read_up.result is True, (health_up.body, read_up.body)
    check_runs(svc, report, lease_waits_allowed=False)
    assert long_s < LEASE_SECONDS, f"the 30-node chain started after the idle restart took {long_s:.1f}s"
    check_scheduler(report, next_minute, fired, sched)


@pytest.mark.slow
def test_database_crash_mid_runs(db_service: Service) -> None:
    """The server crashes (immediate shutdown: no checkpoint) in the middle of 50 runs.

    With SOPS_ENGINE_ASYNC_COMMIT on (the default) a crash may lose the steps whose WAL was not
    written yet (README): their messages are dropped by the fences and the reaper sends the work
    again after its lease, so here runs MAY wait for a lease. What must still hold: every run
    finishes, no node the database had recorded as finished runs again, no API call answers
    3599999 or a 5xx, and the scheduler loses no tick.
    """
    svc = db_service
    report: dict[str, Any] = {"lease_s": LEASE_SECONDS, "down_s": DOWN_SECONDS}
    enable_periodic(svc)
    tasks, phases = mid_run_restart(svc, "immediate", report)
    next_minute, fired, sched = scheduler_report(svc, report)
    runs_report(svc, tasks, report)
    print_report(svc, report)
    check_outage_answers(phases)
    check_runs(svc, report, lease_waits_allowed=True)
    check_scheduler(report, next_minute, fired, sched)


def _iso(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp).timestamp()
