#!/usr/bin/env python
"""Run the web server, a Celery worker and the scheduler in the foreground; Ctrl-C stops them all.

Used by `make run`. Each child runs in its own session (process group), so the
terminal's Ctrl-C reaches only this supervisor, which then stops every child
within STOP_GRACE_SECONDS (default 2.7 s):

1. SIGTERM to each child's *main* process only. gunicorn's master stops its
   workers itself (graceful, 2 s); Celery's main process does a warm shutdown
   and ends its pool itself; the scheduler ends after its tick. Signalling the
   whole group instead (as this script once did) killed Celery's pool children
   under their parent, which then forked replacements and waited for them, and
   made gunicorn log its workers as killed.
2. After STOP_WARM_SECONDS (2 s), SIGQUIT to a worker still finishing a task:
   a cold shutdown. Its task is not lost: the engine's lease on the run
   expires and the reaper enqueues the run again (docs/engine-contract.md).
   (An idle worker's warm shutdown takes about 1 s: the embedded broker's
   poll, sops_api/embedded_broker.py, and billiard's 1 s handler loops.)
3. At the deadline, SIGKILL to whatever is left in any child's group.

Every child gets a private TMPDIR (var/tmp/run, 0700), removed after the stop,
so nothing a child leaves in its temp directory (multiprocessing's pymp-*
folders) outlives the run. If any child dies on its own, the others are stopped
too and the exit status is non-zero, so a broken start is never mistaken for a
running service.

Environment: PORT (default 8000), HOST (default 127.0.0.1), WEB_WORKERS (2),
WORKER_CONCURRENCY (2), PROMETHEUS_MULTIPROC_DIR (wiped at start).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
GRACE_SECONDS = float(os.environ.get("STOP_GRACE_SECONDS", "2.7"))
WARM_SECONDS = float(os.environ.get("STOP_WARM_SECONDS", "2.0"))
VAR_DIR = Path(os.environ.get("SOPS_VAR_DIR", ROOT / "var"))


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if this supervisor is killed outright (kill -9)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def log(message: str) -> None:
    print(f"[run_all] {message}", flush=True)


def commands(host: str, port: str) -> dict[str, list[str]]:
    return {
        "web": [str(BIN / "gunicorn"), "sops_api.wsgi:application",
                "--config", "python:sops_api.gunicorn_conf",
                "--bind", f"{host}:{port}",
                "--workers", os.environ.get("WEB_WORKERS", "2"),
                "--graceful-timeout", "2"],
        # No mingle/gossip/heartbeat: one local worker has no peers to sync with, and their
        # broadcasts only slow its start and stop.
        "worker": [str(BIN / "celery"), "-A", "sops_api", "worker",
                   "-c", os.environ.get("WORKER_CONCURRENCY", "2"), "--loglevel", "INFO",
                   "--without-mingle", "--without-gossip", "--without-heartbeat"],
        # the maintenance tick: periodic tasks, the engine's sweep, lost run ends and callbacks
        "scheduler": [PYTHON, "manage.py", "run_scheduler"],
    }


def wait_http(url: str, timeout: float, children: dict[str, subprocess.Popen], stop: threading.Event) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if any(p.poll() is not None for p in children.values()):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback URL)
                response.read()
                return True
        except OSError:
            stop.wait(0.3)
    return False


def banner(base_url: str) -> None:
    creds_path = Path(os.environ.get("SOPS_VAR_DIR", ROOT / "var")) / "demo-credentials.json"
    try:
        creds = json.loads(creds_path.read_text())
    except (OSError, ValueError):
        creds = {}
    lines = ["", "=" * 72, f" sops is running at {base_url}",
             f"   API docs:  {base_url}apigw/docs/      health: {base_url}healthz",
             f"   admin:     {base_url}admin/  (admin / {creds.get('admin_password') or 'password unchanged'})"]
    if creds.get("app_secret"):
        lines += [f"   app_code=sops-demo app_secret={creds['app_secret']}",
                  f"   access_token={creds.get('access_token')}",
                  f"   bk_token={creds.get('bk_token')}",
                  "   spec placeholders (demo only): app_code=app_code app_secret=app_secret "
                  "access_token=access_token",
                  f"   curl '{base_url}apigw/get_template_list/2/?app_code=app_code&app_secret=app_secret"
                  "&access_token=access_token'"]
    lines += [" Ctrl-C stops everything.", "=" * 72, ""]
    print("\n".join(lines), flush=True)


def _signal(proc: subprocess.Popen, signum: int, *, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_all(procs: list[subprocess.Popen], deadline: float) -> None:
    for proc in procs:
        try:
            proc.wait(timeout=max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass


def stop_all(children: dict[str, subprocess.Popen]) -> None:
    """Stop every child within GRACE_SECONDS; see the module docstring for the order and why."""
    started = time.monotonic()
    alive = {name: p for name, p in children.items() if p.poll() is None}
    for name, proc in alive.items():
        log(f"stopping {name} (pid {proc.pid})")
        _signal(proc, signal.SIGTERM)
    _wait_all(list(alive.values()), started + WARM_SECONDS)
    worker = alive.get("worker")
    if worker is not None and worker.poll() is None:
        log(f"worker still stopping after {WARM_SECONDS} s: cold shutdown (a task cut short is redone "
            "by the engine's reaper)")
        _signal(worker, signal.SIGQUIT)
    _wait_all(list(alive.values()), started + GRACE_SECONDS)
    # Whatever is left in any child's group (a stuck task, an orphaned pool
    # process) is killed: nothing may outlive `make run`.
    for name, proc in children.items():
        if proc.poll() is None:
            log(f"{name} did not stop within {GRACE_SECONDS} s; killing it")
        _signal(proc, signal.SIGKILL, group=True)
        if proc.poll() is None:
            proc.wait()


def private_tmpdir() -> Path:
    """A fresh temp directory for the children, inside var/ (0700)."""
    tmp = VAR_DIR / "tmp" / "run"
    shutil.rmtree(tmp, ignore_errors=True)
    for folder in (VAR_DIR, tmp.parent, tmp):
        folder.mkdir(exist_ok=True, mode=0o700)
        folder.chmod(0o700)  # whatever the umask
    return tmp


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    base_url = f"http://{host}:{port}/"

    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        # Files of dead processes from an earlier run would be summed in.
        shutil.rmtree(multiproc, ignore_errors=True)
        Path(multiproc).mkdir(parents=True, exist_ok=True)

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        # No printing here: a print interrupted by a signal whose handler prints raises
        # "reentrant call" (a traceback on Ctrl-C); the main loop reports it.
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    children: dict[str, subprocess.Popen] = {}
    status = 0
    tmp = private_tmpdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    try:
        for name, argv in commands(host, port).items():
            log(f"starting {name}: {' '.join(argv)}")
            children[name] = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True,
                                              preexec_fn=_die_with_parent)  # noqa: PLW1509
        if wait_http(f"{base_url}healthz", 60, children, stop):
            banner(base_url)
        elif not stop.is_set() and all(p.poll() is None for p in children.values()):
            log(f"{base_url}healthz did not answer 200 within 60 s (database or broker down?); still running")
        while not stop.is_set():
            for name, proc in children.items():
                if proc.poll() is not None:
                    log(f"{name} exited with status {proc.returncode}; stopping the others")
                    status = 1
                    stop.set()
                    break
            stop.wait(0.1)
    finally:
        if received:
            log(f"got {received[0]}, stopping")
        stop_all(children)
        shutil.rmtree(tmp, ignore_errors=True)
        log("all stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
