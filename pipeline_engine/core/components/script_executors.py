"""Where `job_fast_execute_script` runs scripts.

An executor is any object with

    run(script, script_type, params, timeout, should_stop) -> ScriptResult

selected by the setting SOPS_SCRIPT_EXECUTOR (a dotted path to a class or a
factory; default: LocalScriptExecutor). A site wiring scripts to a real job
system (SSH, an agent, BlueKing JOB) supplies its own.

LocalScriptExecutor runs the script as a child process **on the worker host,
as the worker's user**, only when an operator has set
SOPS_SCRIPT_EXECUTION_ENABLED. It ignores target IPs and accounts. The child
gets a minimal environment (no database URLs or secrets from the worker),
its own process group (so the whole tree can be killed), bounded output
capture, and is killed on timeout or when the node is asked to stop.
"""
from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol, runtime_checkable

from pipeline_engine.core.components import config

__all__ = [
    "SCRIPT_TYPES",
    "LocalScriptExecutor",
    "ScriptExecutionDisabled",
    "ScriptExecutor",
    "ScriptResult",
    "get_script_executor",
    "parse_sops_vars",
]

# JOB's script type codes.
SCRIPT_TYPES = {1: "shell", 2: "bat", 3: "perl", 4: "python", 5: "powershell"}

STDOUT_KEEP_BYTES = 64 * 1024
STDERR_KEEP_BYTES = 16 * 1024
KILL_GRACE_SECONDS = 2.0


class ScriptExecutionDisabled(RuntimeError):
    """The executor refuses to run scripts in this deployment."""


@dataclass
class ScriptResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: bool = False
    job_instance_id: int | None = None
    job_instance_url: str = ""
    # `<SOPS_VAR>key:value</SOPS_VAR>` values; an executor that streams the
    # whole stdout fills this, others leave it to be parsed from `stdout`.
    log_outputs: dict[str, str] | None = None
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class ScriptExecutor(Protocol):
    def run(self, script: str, script_type: int, params: str, timeout: float,
            should_stop: Callable[[], bool]) -> ScriptResult: ...


class _TailBuffer:
    """Keeps the last `limit` bytes of a stream and counts what was dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        body = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            return f"[... {self.dropped} bytes truncated ...]\n{body}"
        return body


class _LineScanner:
    """Feeds complete stdout lines to a callback while bytes stream through."""

    MAX_LINE = 64 * 1024

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.pending = bytearray()

    def add(self, chunk: bytes) -> None:
        self.pending += chunk
        while True:
            newline = self.pending.find(b"\n")
            if newline < 0:
                break
            line = bytes(self.pending[:newline])
            del self.pending[:newline + 1]
            self.on_line(line.decode("utf-8", errors="replace"))
        if len(self.pending) > self.MAX_LINE:
            # A huge line without newline cannot carry a sane variable.
            self.pending.clear()

    def close(self) -> None:
        if self.pending:
            self.on_line(self.pending.decode("utf-8", errors="replace"))
            self.pending.clear()


def _pump(stream: IO[bytes], sinks: list[Callable[[bytes], None]]) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]  # a pipe is a BufferedReader; IO[bytes] does not declare read1
        for sink in sinks:
            sink(chunk)


def _interpreter(script_type: int) -> list[str]:
    kind = SCRIPT_TYPES.get(script_type)
    if kind == "shell":
        shell = shutil.which("bash") or shutil.which("sh")
        if shell:
            return [shell]
    elif kind == "python":
        python = shutil.which("python3") or sys.executable
        if python:
            return [python]
    elif kind == "perl":
        perl = shutil.which("perl")
        if perl:
            return [perl]
    elif kind == "powershell":
        pwsh = shutil.which("pwsh")
        if pwsh:
            return [pwsh, "-NoProfile", "-NonInteractive", "-File"]
    name = kind or f"type {script_type}"
    raise ScriptExecutionDisabled(f"{name} scripts cannot run on this worker (no interpreter found)")


def _child_env(workdir: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "LC_ALL": os.environ.get("LC_ALL", "C.UTF-8"),
        "PYTHONIOENCODING": "utf-8",
    }
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, KILL_GRACE_SECONDS)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class LocalScriptExecutor:
    """Runs scripts as child processes of the worker (see the module docstring)."""

    poll_seconds = 0.05

    def __init__(self, on_stdout_line: Callable[[str], None] | None = None) -> None:
        self.on_stdout_line = on_stdout_line

    def run(self, script: str, script_type: int, params: str, timeout: float,
            should_stop: Callable[[], bool]) -> ScriptResult:
        if not config.setting("SOPS_SCRIPT_EXECUTION_ENABLED", False):
            raise ScriptExecutionDisabled(
                "script execution is disabled on this server; an operator must set "
                "SOPS_SCRIPT_EXECUTION_ENABLED=true to let job_fast_execute_script run scripts "
                "on the worker host")
        if sys.platform == "win32":  # pragma: no cover - workers run on POSIX
            raise ScriptExecutionDisabled("LocalScriptExecutor needs a POSIX worker")
        command = _interpreter(script_type)
        try:
            args = shlex.split(params or "")
        except ValueError as exc:
            raise ValueError(f"script parameters cannot be split into arguments: {exc}") from exc

        with tempfile.TemporaryDirectory(prefix="sops-script-") as workdir:
            suffix = {"python": ".py", "perl": ".pl", "powershell": ".ps1"}.get(
                SCRIPT_TYPES.get(script_type, ""), ".sh")
            path = os.path.join(workdir, f"script{suffix}")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(script)
            os.chmod(path, 0o700)
            return self._run_process([*command, path, *args], workdir, timeout, should_stop)

    def _run_process(self, argv: list[str], workdir: str, timeout: float,
                     should_stop: Callable[[], bool]) -> ScriptResult:
        stdout, stderr = _TailBuffer(STDOUT_KEEP_BYTES), _TailBuffer(STDERR_KEEP_BYTES)
        variables: dict[str, str] = {}
        scanner = _LineScanner(lambda line: _collect_vars(line, variables, self.on_stdout_line))
        process = subprocess.Popen(
            argv, cwd=workdir, env=_child_env(workdir), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        pumps = [
            threading.Thread(target=_pump, args=(process.stdout, [stdout.add, scanner.add]), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, [stderr.add]), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        deadline = time.monotonic() + max(timeout, 0.0)
        timed_out = stopped = False
        try:
            while process.poll() is None:
                if should_stop():
                    stopped = True
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                time.sleep(self.poll_seconds)
        finally:
            if process.poll() is None:
                _kill_group(process)
        # Grandchildren that kept the pipes open are gone with the group; do
        # not wait forever on a pipe anyway.
        for pump in pumps:
            pump.join(timeout=5)
        scanner.close()
        return ScriptResult(
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=stdout.text(), stderr=stderr.text(),
            timed_out=timed_out, stopped=stopped, log_outputs=variables,
        )


_SOPS_VAR_RE = re.compile(r"<SOPS_VAR>(.*?)</SOPS_VAR>", re.DOTALL)
MAX_LOG_OUTPUTS = 1000
MAX_LOG_VALUE_CHARS = 64 * 1024


def parse_sops_vars(text: str, limit: int = MAX_LOG_OUTPUTS) -> dict[str, str]:
    """`<SOPS_VAR>key:value</SOPS_VAR>` markers in `text` as {key: value}; later ones win."""
    found: dict[str, str] = {}
    for match in _SOPS_VAR_RE.finditer(text):
        key, sep, value = match.group(1).partition(":")
        key = key.strip()
        if not sep or not key:
            continue
        if key not in found and len(found) >= limit:
            continue
        found[key] = value[:MAX_LOG_VALUE_CHARS]
    return found


def _collect_vars(line: str, into: dict[str, str], extra: Callable[[str], None] | None) -> None:
    if "<SOPS_VAR>" in line:
        for key, value in parse_sops_vars(line).items():
            if key in into or len(into) < MAX_LOG_OUTPUTS:
                into[key] = value
    if extra is not None:
        extra(line)


def get_script_executor() -> ScriptExecutor:
    """The executor named by SOPS_SCRIPT_EXECUTOR, or a LocalScriptExecutor."""
    path = config.setting("SOPS_SCRIPT_EXECUTOR", "") or ""
    if not path:
        return LocalScriptExecutor()
    module_name, _, attr = str(path).rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ScriptExecutionDisabled(f"SOPS_SCRIPT_EXECUTOR {path!r} cannot be loaded: {exc}") from exc
    executor = factory()
    if not isinstance(executor, ScriptExecutor):
        raise ScriptExecutionDisabled(f"SOPS_SCRIPT_EXECUTOR {path!r} has no run() method")
    return executor
