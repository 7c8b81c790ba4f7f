#!/usr/bin/env python
"""Run the web server, a Celery worker and the scheduler in the foreground; Ctrl-C stops them all.

Used by `make run`. Each child runs in its own session (process group), so the
terminal's Ctrl-C reaches only this supervisor, which then stops every child
in order: SIGTERM to the whole group (gunicorn's workers and Celery's pool
included), a grace period, then SIGKILL. If any child dies on its own, the
others are stopped too and the exit status is non-zero, so a broken start is
never mistaken for a running service.

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
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
GRACE_SECONDS = float(os.environ.get("STOP_GRACE_SECONDS", "10"))


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
                "--workers", os.environ.get("WEB_WORKERS", "2")],
        "worker": [str(BIN / "celery"), "-A", "sops_api", "worker",
                   "-c", os.environ.get("WORKER_CONCURRENCY", "2"), "--loglevel", "INFO"],
        # the maintenance tick: periodic tasks, the engine's sweep, lost run ends and callbacks
        "scheduler": [PYTHON, "manage.py", "run_scheduler"],
    }


def wait_http(url: str, timeout: float, children: dict[str, subprocess.Popen]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in children.values()):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback URL)
                response.read()
                return True
        except OSError:
            time.sleep(0.3)
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


def stop_all(children: dict[str, subprocess.Popen]) -> None:
    alive = {name: p for name, p in children.items() if p.poll() is None}
    for name, proc in alive.items():
        log(f"stopping {name} (pid {proc.pid})")
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in alive.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left in any child's group (a stuck task, an orphaned pool
    # process) is killed: nothing may outlive `make run`.
    for proc in children.values():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait()


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    base_url = f"http://{host}:{port}/"

    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        # Files of dead processes from an earlier run would be summed in.
        shutil.rmtree(multiproc, ignore_errors=True)
        Path(multiproc).mkdir(parents=True, exist_ok=True)

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log(f"got {signal.Signals(signum).name}, stopping")
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    children: dict[str, subprocess.Popen] = {}
    status = 0
    try:
        for name, argv in commands(host, port).items():
            log(f"starting {name}: {' '.join(argv)}")
            children[name] = subprocess.Popen(argv, cwd=ROOT, start_new_session=True,
                                              preexec_fn=_die_with_parent)  # noqa: PLW1509
        if wait_http(f"{base_url}healthz", 60, children):
            banner(base_url)
        elif not stopping and all(p.poll() is None for p in children.values()):
            log(f"{base_url}healthz did not answer 200 within 60 s (database or broker down?); still running")
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    log(f"{name} exited with status {proc.returncode}; stopping the others")
                    status = 1
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        stop_all(children)
        log("all stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
