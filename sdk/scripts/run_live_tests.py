#!/usr/bin/env python3
"""Runs the SDK's tests as a new user would meet it: `pip install ./sdk` into a fresh virtualenv, a fresh
server started the way `make run` starts it, then pytest on sdk/tests against that server.

- the server: `make run` on a free port, in embedded mode (SQLite + filesystem broker) under its own
  var folder (var/sdk-live/, wiped first, so the demo's ids line up with the spec's examples); its
  output goes to var/sdk-live/server.log;
- the virtualenv: var/sdk-venv/, recreated each run; only the SDK and its test extra go in
  (no Django: the SDK must not need it);
- the server is stopped (SIGTERM to its process group, then SIGKILL) whatever happens.

Usage: python sdk/scripts/run_live_tests.py [pytest arguments]. Exit status: pytest's, or 2 when the
server or the virtualenv could not be prepared. Standard library only.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SDK_ROOT = REPO_ROOT / "sdk"
VAR = REPO_ROOT / "var"
SERVER_DIR = VAR / "sdk-live"
VENV = VAR / "sdk-venv"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


def log(message: str) -> None:
    print(f"[sdk-test] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    shutil.rmtree(SERVER_DIR, ignore_errors=True)
    SERVER_DIR.mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(SOPS_VAR_DIR=str(SERVER_DIR), PROMETHEUS_MULTIPROC_DIR=str(SERVER_DIR / "prometheus"))
    log(f"starting `make run` on 127.0.0.1:{port} (log: {SERVER_DIR / 'server.log'})")
    with open(SERVER_DIR / "server.log", "wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}", "HOST=127.0.0.1"],
                                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        if server.poll() is not None:
            break
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    log(f"server stopped (status {server.poll()})")


def wait_ready(server: subprocess.Popen, base_url: str, credentials: Path) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:  # noqa: S310 (ours)
                if response.status == 200 and credentials.exists() and json.loads(credentials.read_text()):
                    return True
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    return False


def make_venv() -> bool:
    log(f"fresh virtualenv {VENV}; pip install ./sdk[test]")
    steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
             [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              f"{SDK_ROOT}[test]"]]
    for step in steps:
        if subprocess.run(step, cwd=REPO_ROOT, stdin=subprocess.DEVNULL).returncode != 0:
            log(f"failed: {' '.join(step)}")
            return False
    return True


def server_log_tail(lines: int = 40) -> str:
    try:
        return "\n".join((SERVER_DIR / "server.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def main(pytest_args: list[str]) -> int:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    credentials = SERVER_DIR / "demo-credentials.json"
    server = start_server(port)
    try:
        if not make_venv():
            return 2
        if not wait_ready(server, base_url, credentials):
            log(f"the server did not come up within {START_TIMEOUT:g} s:\n{server_log_tail()}")
            return 2
        log(f"server ready at {base_url}; running sdk/tests")
        env = {**os.environ, "SOPS_SDK_ENDPOINT": base_url, "SOPS_SDK_CREDENTIALS": str(credentials)}
        command = [str(VENV / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "tests", *pytest_args]
        return subprocess.run(command, cwd=SDK_ROOT, env=env, stdin=subprocess.DEVNULL).returncode
    finally:
        stop_server(server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
