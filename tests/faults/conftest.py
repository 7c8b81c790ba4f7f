"""Fixtures of the fault-injection tests: killable workers on a private broker, a probe file.

The tests start their own Celery worker subprocesses (so they can kill them)
on the test database pytest-django created. Their messages go through a
broker of their own, so that no other worker ever takes one of them (the
session worker of tests/conftest.py does not load the fault components; a
worker of another test session on the same machine would drop them as "run
not found"):

- with `redis-server` installed: a private redis-server on a free port,
  started once per session (tests/faults/redis_server.py);
- else, with a Redis broker: database SOPS_FAULTS_REDIS_DB (default 11) of the
  server CELERY_BROKER_URL names (enough where one session runs per machine,
  as in CI);
- in the embedded mode: a private folder for the filesystem broker.

The reaper lease is shortened to SOPS_FAULTS_LEASE_SECONDS (default 3) in the
test process and in the workers, so recovering lost work takes seconds.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.faults import probe as probe_mod
from tests.faults import redis_server

ROOT = Path(__file__).resolve().parents[2]
FAULTS_COMPONENTS = "tests.faults.components"
LEASE_SECONDS = int(os.environ.get("SOPS_FAULTS_LEASE_SECONDS", "3"))
SWEEP_INTERVAL = float(os.environ.get("SOPS_FAULTS_SWEEP_INTERVAL", "0.5"))
REDIS_DB = int(os.environ.get("SOPS_FAULTS_REDIS_DB", "11"))


def database_url() -> str:
    """A URL for the test database pytest-django created (the workers must open the same one)."""
    from django.db import connection

    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{sd['NAME']}"
    auth = ""
    if sd.get("USER"):
        auth = sd["USER"] + (f":{sd['PASSWORD']}" if sd.get("PASSWORD") else "") + "@"
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    return f"postgres://{auth}{sd.get('HOST') or '127.0.0.1'}{port}/{sd['NAME']}"


def redis_broker() -> bool:
    from django.conf import settings

    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def require_redis(why: str) -> None:
    """Skip, with the reason, in the embedded mode (SQLite + filesystem broker)."""
    from django.db import connection

    if connection.vendor == "sqlite" or not redis_broker():
        pytest.skip(f"needs PostgreSQL and a Redis broker (DATABASE_URL, CELERY_BROKER_URL): {why}")


def private_redis_url(db: int = REDIS_DB) -> str:
    from django.conf import settings

    parts = urlsplit(settings.CELERY_BROKER_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def switch_broker(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Point this process's Celery app at another broker; returns the previous one.

    Celery caches the connection and producer pools on first use, so both are
    dropped and rebuilt from the new URL on the next send.
    """
    from sops_api.celery import app

    previous = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    # The old pools are dropped, not closed: kombu keeps producer pools in a global registry keyed
    # by connection, and a closed one would be handed back the next time this URL is used.
    # Celery's conf.broker_url reads the CELERY_BROKER_URL environment variable before its own
    # value, so the variable must change too.
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    # Likewise the Django-namespaced key wins over the plain one when Celery reads its
    # config: without it the filesystem broker (same URL, other folders) kept publishing
    # into the suite's shared folder, where the suite's worker took the faults' messages.
    app.conf.update(CELERY_BROKER_TRANSPORT_OPTIONS=options, broker_transport_options=options)
    app._pool = None
    app.amqp._producer_pool = None
    return previous


class Worker:
    """One `celery worker` (prefork, -c N) in its own session: killable as a whole or child by child."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, concurrency: int = 1) -> None:
        self.name = name
        self.env = env
        self.concurrency = concurrency
        self.log_path = log_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self, timeout: float = 60.0) -> None:
        celery = ROOT / ".venv" / "bin" / "celery"
        prefix = [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]
        cmd = [*prefix, "-A", "sops_api", "worker", "-P", "prefork", "-c", str(self.concurrency),
               "-I", FAULTS_COMPONENTS, "--loglevel", "INFO", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "-n", f"faults-{self.name}-{os.getpid()}@%h"]
        before = self._ready_count()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while self._ready_count() <= before:
            if self.proc.poll() is not None:
                pytest.fail(f"worker {self.name} exited {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker {self.name} not ready after {timeout}s:\n{self.tail()}")
            time.sleep(0.05)

    def _ready_count(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(" ready.")
        except FileNotFoundError:
            return 0

    def tail(self, n: int = 15, width: int = 400) -> str:
        """The last lines of the log, each cut short: tracebacks in JSON logs are long."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        except FileNotFoundError:
            return ""
        return "\n".join(line[:width] for line in lines) + f"\n(full log: {self.log_path})"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        if not self.alive():
            return []
        assert self.proc is not None
        try:
            return [int(x) for x in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def crash(self) -> None:
        """SIGKILL the whole worker (main process and children): a machine or container dying."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def kill_child(self) -> bool:
        """SIGKILL one pool child mid-task (an OOM kill); the main process forks a new one."""
        kids = self.children()
        if not kids:
            return False
        try:
            os.kill(kids[0], signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills += 1
        return True

    def dump_stacks(self) -> None:
        """Every thread's stack of the main process and its children, into the worker's log."""
        if not self.alive():
            return
        assert self.proc is not None
        for pid in [self.proc.pid, *self.children()]:
            try:
                os.kill(pid, signal.SIGUSR2)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@dataclass
class FaultsEnv:
    tmp: Path
    broker_url: str
    broker_options: dict[str, Any]
    probe_file: Path
    database_url: str
    workers: list[Worker] = field(default_factory=list)

    def worker_env(self, broker_url: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "sops_api.settings",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": broker_url or self.broker_url,
            "SOPS_VAR_DIR": str(self.tmp / "var"),
            "SOPS_REAPER_LEASE_SECONDS": str(LEASE_SECONDS),
            "SOPS_REAPER_INTERVAL_SECONDS": str(SWEEP_INTERVAL),
            "SOPS_COMPONENT_MODULES": ",".join(filter(None, [os.environ.get("SOPS_COMPONENT_MODULES", ""),
                                                             FAULTS_COMPONENTS])),
            probe_mod.PROBE_ENV: str(self.probe_file),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
            "LOG_LEVEL": "INFO",
        })
        return env

    def start_worker(self, name: str, concurrency: int = 1, broker_url: str | None = None) -> Worker:
        worker = Worker(name, self.worker_env(broker_url), self.tmp, concurrency)
        worker.start()
        self.workers.append(worker)
        return worker

    def probe(self) -> list[dict[str, Any]]:
        return probe_mod.read_probe(self.probe_file)

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.tail()}" for w in self.workers)


def _purge_redis_db(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()  # our own database number only, never FLUSHALL


@pytest.fixture(scope="session")
def faults_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """The Redis URL of this session's private broker (None in the embedded mode)."""
    if not redis_broker():
        yield None
        return
    if not redis_server.available():
        yield private_redis_url()
        return
    server = redis_server.OwnRedis(tmp_path_factory.mktemp("faults-redis") / "redis.log")
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def faults(transactional_db: None, settings: Any, tmp_path: Path, faults_redis_url: str | None
           ) -> Iterator[FaultsEnv]:
    """Private broker + probe file + shortened lease; workers started by the test are stopped after it."""
    from django.db import connection

    if connection.vendor == "sqlite" and (":memory:" in connection.settings_dict["NAME"]
                                          or "mode=memory" in connection.settings_dict["NAME"]):
        pytest.skip("the fault tests' workers need a file test database (TEST_DATABASE_NAME)")
    settings.SOPS_REAPER_LEASE_SECONDS = LEASE_SECONDS
    (tmp_path / "var").mkdir()
    if faults_redis_url:
        url, options = faults_redis_url, {"visibility_timeout": 3600}
        _purge_redis_db(url)
    else:
        broker = tmp_path / "var" / "broker"
        for sub in ("in", "processed", "control"):
            (broker / sub).mkdir(parents=True)
        url = "filesystem://"
        # control_folder too: without it kombu writes its broadcast exchanges to ./control in the CWD.
        options = {"data_folder_in": str(broker / "in"), "data_folder_out": str(broker / "in"),
                   "processed_folder": str(broker / "processed"), "control_folder": str(broker / "control"),
                   "store_processed": False}
    probe_file = tmp_path / "probe.jsonl"
    os.environ[probe_mod.PROBE_ENV] = str(probe_file)
    env_broker = os.environ.get("CELERY_BROKER_URL")
    previous = switch_broker(url, options)
    env = FaultsEnv(tmp=tmp_path, broker_url=url, broker_options=options, probe_file=probe_file,
                    database_url=database_url())
    try:
        yield env
    finally:
        for worker in env.workers:
            worker.stop()
        switch_broker(*previous)
        if env_broker is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = env_broker
        os.environ.pop(probe_mod.PROBE_ENV, None)
        if faults_redis_url:
            try:
                _purge_redis_db(url)
            except Exception:  # noqa: BLE001 - a test may have left its own Redis down
                pass
        connection.close()


class ProgressMonitor(threading.Thread):
    """Samples the status trees of active runs; records, per run, the longest time without a change.

    "Progress" is any change of the run's displayed state or of any node's
    state, retry or loop. A run is watched from when it is added until it ends.
    """

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="progress-monitor")
        self.interval = interval
        self.lock = threading.Lock()
        self.active: dict[str, tuple[Any, float]] = {}  # run -> (fingerprint, since)
        self.max_stall: dict[str, float] = {}
        self.stop_event = threading.Event()
        self.errors: list[str] = []

    def add(self, run_id: str) -> None:
        with self.lock:
            self.active[run_id] = (None, time.monotonic())
            self.max_stall.setdefault(run_id, 0.0)

    def run(self) -> None:
        from django.db import connection

        from pipeline_engine import api

        try:
            while not self.stop_event.wait(self.interval):
                with self.lock:
                    ids = list(self.active)
                if not ids:
                    continue
                try:
                    trees = api.get_status_trees(ids)
                except Exception as exc:  # noqa: BLE001 - keep sampling through a transient error
                    self.errors.append(repr(exc))
                    continue
                now = time.monotonic()
                with self.lock:
                    for run_id in ids:
                        tree = trees.get(run_id)
                        if tree is None or run_id not in self.active:
                            continue
                        fingerprint = _fingerprint(tree)
                        old, since = self.active[run_id]
                        if fingerprint != old:
                            self.max_stall[run_id] = max(self.max_stall[run_id], now - since)
                            since = now
                        self.active[run_id] = (fingerprint, since)
                        if tree["state"] in ("FINISHED", "REVOKED"):
                            del self.active[run_id]
        finally:
            connection.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)
        now = time.monotonic()
        with self.lock:
            for run_id, (_fp, since) in self.active.items():
                self.max_stall[run_id] = max(self.max_stall[run_id], now - since)

    def current_stall(self) -> float:
        """The longest time an active run has gone without progress so far."""
        now = time.monotonic()
        with self.lock:
            return max((now - since for _fp, since in self.active.values()), default=0.0)

    def worst(self) -> tuple[str, float]:
        with self.lock:
            if not self.max_stall:
                return "", 0.0
            run_id = max(self.max_stall, key=self.max_stall.__getitem__)
            return run_id, self.max_stall[run_id]


def _fingerprint(tree: dict[str, Any]) -> Any:
    items: list[Any] = [tree["state"]]
    stack = [tree]
    while stack:
        node = stack.pop()
        for child_id, child in node.get("children", {}).items():
            items.append((child_id, child["state"], child["retry"], child["loop"]))
            stack.append(child)
    return tuple(sorted(map(str, items)))


def run_threads(fns: list[Callable[[], Any]]) -> list[BaseException | None]:
    """Run the callables at the same moment (a barrier) in threads; return each one's exception or None."""
    from django.db import connection

    barrier = threading.Barrier(len(fns))
    errors: list[BaseException | None] = [None] * len(fns)

    def runner(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(10)
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(fns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return errors


@contextmanager
def own_redis(faults: FaultsEnv, log_name: str) -> Iterator[redis_server.OwnRedis]:
    """A Redis server of the test's own as the broker, for tests that stop it (never the shared one)."""
    if not redis_server.available():
        pytest.skip("redis-server is not installed: this test runs a Redis server of its own to stop it")
    server = redis_server.OwnRedis(faults.tmp / log_name)
    server.start()
    switch_broker(server.url, {"visibility_timeout": 3600})
    try:
        yield server
    finally:
        # Workers first: a worker whose broker is gone would spin on reconnecting.
        for worker in faults.workers:
            worker.stop()
        server.kill()

