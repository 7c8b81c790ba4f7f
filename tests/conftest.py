"""Fixtures shared by every test package.

`celery_worker_proc` (session): a real Celery worker subprocess
(`celery -A sops_api worker -P prefork -c 2`) pointed at the SAME test
database pytest-django created and at the same broker. It does NOT run the
engine's sweep (other suites start their own workers on the same database,
and a sweep sends due work to its own broker); timers and timeouts still fire
through their countdown messages. A test that needs the sweep (lost work,
expired leases) uses the `engine_sweeper` fixture. Tests that use it
must also use `transactional_db` (data must be committed for the worker to
see it); they are marked `worker`. The worker's log is in
`<SOPS_VAR_DIR>/test-worker.log`.

    pytestmark = [pytest.mark.worker]

    def test_x(transactional_db, celery_worker_proc):
        run_id = api.run_pipeline(tree)
        wait_for(lambda: api.get_run_summary(run_id).state == "FINISHED")

Both modes work: PostgreSQL + Redis (DATABASE_URL, CELERY_BROKER_URL) and
the embedded default (SQLite file named by TEST_DATABASE_NAME + the kombu
filesystem broker under SOPS_VAR_DIR). In the embedded mode a file test
database is required (an in-memory one cannot be shared); one under
SOPS_VAR_DIR is chosen when TEST_DATABASE_NAME is unset.

`wait_for(predicate, timeout=30, interval=0.05)` polls until `predicate()`
returns something truthy and returns it, or fails the test with a message.

Extra component modules the worker must load for a test session go in
`WORKER_COMPONENT_MODULES` (the worker gets them through
SOPS_COMPONENT_MODULES).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The worlds the tests build, each used by the tests of several packages (tests/support/).
pytest_plugins = ["tests.support.gate", "tests.support.task_world", "tests.support.periodic_world"]
T = TypeVar("T")

# Test-only components the worker subprocess imports (a slow component that
# honours its stop flag, one that fails, ...).
WORKER_COMPONENT_MODULES = ["tests.pipeline_engine.components_for_tests"]


def _ensure_file_test_db() -> None:
    """Give the embedded mode a file test database the worker can open too."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        return
    test = db.setdefault("TEST", {})
    if not test.get("NAME"):
        test["NAME"] = str(Path(settings.VAR_DIR) / "test-sops.sqlite3")
        os.environ["TEST_DATABASE_NAME"] = test["NAME"]


def pytest_configure(config: pytest.Config) -> None:
    try:
        _ensure_file_test_db()
    except Exception:  # noqa: BLE001 - settings not configured: nothing to adjust
        pass


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
             message: str = "") -> T:
    """Poll `predicate` until it returns a truthy value; return it or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - keep polling through transient errors
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate!r}; last value: {last!r}")
        time.sleep(interval)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """The `wait_for` helper as a fixture, for packages that prefer injection."""
    return wait_for


def _database_url() -> str:
    from django.db import connection

    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{sd['NAME']}"
    user = sd.get("USER") or ""
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = sd.get("HOST") or "127.0.0.1"
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    scheme = "postgres" if connection.vendor == "postgresql" else connection.vendor
    return f"{scheme}://{auth}{host}{port}/{sd['NAME']}"


def _purge_broker() -> None:
    """Drop messages a previous session left behind (they name runs that no longer exist)."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for key in ("data_folder_in", "processed_folder"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True, exist_ok=True)
        return
    from sops_api.celery import app

    try:
        app.control.purge()
    except Exception:  # noqa: BLE001 - an unreachable broker shows up when the worker starts
        pass


@pytest.fixture(scope="session")
def celery_worker_proc(django_db_setup: None, django_db_blocker: Any) -> Iterator[subprocess.Popen]:
    """A live `celery worker -P prefork -c 2` on the test database; killed at session end."""
    from django.conf import settings

    with django_db_blocker.unblock():
        database_url = _database_url()
    _purge_broker()
    log_path = Path(settings.VAR_DIR) / "test-worker.log"
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SOPS_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_SETTINGS_MODULE": "sops_api.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "SOPS_COMPONENT_MODULES": ",".join(filter(None, [env.get("SOPS_COMPONENT_MODULES", ""),
                                                         *WORKER_COMPONENT_MODULES])),
        "SOPS_ENGINE_SWEEP_IN_WORKER": "0",
        "SOPS_REAPER_INTERVAL_SECONDS": env.get("SOPS_REAPER_INTERVAL_SECONDS", "0.5"),
        "SOPS_REAPER_LEASE_SECONDS": env.get("SOPS_REAPER_LEASE_SECONDS", "10"),
    })
    celery = ROOT / ".venv" / "bin" / "celery"
    prefix = [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]
    cmd = [*prefix, "-A", "sops_api", "worker",
           "-P", "prefork", "-c", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "-n", f"test-{os.getpid()}@%h",
           "--include", ",".join(WORKER_COMPONENT_MODULES)]
    log = open(log_path, "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log_path.read_text(errors="replace"):
            if proc.poll() is not None:
                pytest.fail(f"celery worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"celery worker did not become ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()  # warm shutdown of the main process; it stops its children
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@pytest.fixture
def engine_sweeper(transactional_db: None) -> Iterator[None]:
    """Run the engine's sweep (pipeline_engine.api.sweep) every 0.2 s during one test."""
    import threading

    from django.db import connection

    from pipeline_engine import api

    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(0.2):
                try:
                    api.sweep()
                except Exception:  # noqa: BLE001 - keep sweeping; the test sees the outcome
                    pass
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True, name="test-engine-sweeper")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
