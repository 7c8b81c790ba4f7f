"""Where `job_fast_execute_script` runs scripts.

An executor is any object with

    run(script, script_type, params, timeout, should_stop) -> ScriptResult

selected by the setting SOPS_SCRIPT_EXECUTOR (a dotted path to a class or a
factory; default: LocalScriptExecutor). A site wiring scripts to a real job
system (SSH, an agent, BlueKing JOB) supplies its own.

LocalScriptExecutor runs the script as a child process **on the worker host,
as the worker's user**, only when an operator has set
SOPS_SCRIPT_EXECUTION_ENABLED. It ignores target IPs and accounts. Each run:

- gets an environment built from nothing (`child_env`: PATH, HOME and TMPDIR
  set to its own directory, LANG/LC_ALL, USER/LOGNAME, TZ), never the
  worker's variables (DATABASE_URL, SECRET_KEY, CELERY_BROKER_URL, ...);
- runs in a fresh temporary directory, removed afterwards;
- runs under `script_supervisor.py`, which sets the limits of `ScriptLimits`
  (CPU seconds, address space, file size, open files, processes) and kills
  every process the script leaves behind, detached or not;
- has its output bounded: the node keeps the last STDOUT_KEEP_BYTES /
  STDERR_KEEP_BYTES (with a note of what was cut), and a script that prints
  more than the output limit in all is killed;
- is killed, with everything it started, on timeout (wall time) or when the
  node is asked to stop.

A script stopped by a limit reports it in `ScriptResult.limit`, a sentence
naming the limit and its setting.
"""
from __future__ import annotations

import importlib
import json
import os
import pwd
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
    "STDERR_KEEP_BYTES",
    "STDOUT_KEEP_BYTES",
    "LocalScriptExecutor",
    "ScriptExecutionDisabled",
    "ScriptExecutor",
    "ScriptLimits",
    "ScriptResult",
    "child_env",
    "get_script_executor",
    "parse_sops_vars",
]

# JOB's script type codes.
SCRIPT_TYPES = {1: "shell", 2: "bat", 3: "perl", 4: "python", 5: "powershell"}

STDOUT_KEEP_BYTES = 64 * 1024
STDERR_KEEP_BYTES = 16 * 1024
KILL_GRACE_SECONDS = 2.0
MIB = 1024 * 1024
SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "script_supervisor.py")
# The PATH scripts get: the system's directories, not the worker's (which may lead to the
# project's virtualenv).
SCRIPT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# How interpreters say an allocation failed (Python, bash/glibc, C++, perl); compared lower-cased.
_MEMORY_FAILURE_MARKS = ("memoryerror", "cannot allocate", "out of memory", "bad_alloc", "memory exhausted")


@dataclass(frozen=True)
class ScriptLimits:
    """What one script may use; each field is a setting (0 turns a limit off).

    Defaults: enough for the ops scripts JOB runs (a deploy step, a log scan), small enough
    that a runaway script cannot starve the worker host it shares with the engine.
    """

    cpu_seconds: int = 600  # SOPS_SCRIPT_CPU_SECONDS
    memory_mb: int = 1024  # SOPS_SCRIPT_MEMORY_MB: address space of each process
    output_mb: float = 16  # SOPS_SCRIPT_OUTPUT_MB: stdout + stderr in all
    file_mb: int = 1024  # SOPS_SCRIPT_FILE_MB: largest file it may write
    open_files: int = 1024  # SOPS_SCRIPT_OPEN_FILES: per process
    processes: int = 64  # SOPS_SCRIPT_PROCESSES: at once (not enforced for root, see README)
    wall_seconds: int = 86400  # SOPS_SCRIPT_MAX_SECONDS: the most job_script_timeout may ask

    SETTINGS = {
        "cpu_seconds": "SOPS_SCRIPT_CPU_SECONDS",
        "memory_mb": "SOPS_SCRIPT_MEMORY_MB",
        "output_mb": "SOPS_SCRIPT_OUTPUT_MB",
        "file_mb": "SOPS_SCRIPT_FILE_MB",
        "open_files": "SOPS_SCRIPT_OPEN_FILES",
        "processes": "SOPS_SCRIPT_PROCESSES",
        "wall_seconds": "SOPS_SCRIPT_MAX_SECONDS",
    }

    @classmethod
    def from_settings(cls) -> ScriptLimits:
        values = {}
        for name, setting in cls.SETTINGS.items():
            default = getattr(cls, name)
            values[name] = type(default)(config.setting(setting, default) or 0)
        return cls(**values)

    @property
    def output_bytes(self) -> int:
        return int(self.output_mb * MIB)

    def supervisor_config(self, status_fd: int) -> dict[str, int]:
        return {"status_fd": status_fd, "cpu_seconds": self.cpu_seconds, "memory_bytes": self.memory_mb * MIB,
                "file_bytes": self.file_mb * MIB, "open_files": self.open_files, "processes": self.processes}


class ScriptExecutionDisabled(RuntimeError):
    """The executor refuses to run scripts in this deployment."""


@dataclass
class ScriptResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: bool = False
    # Why a limit stopped it ("it used more than 10 CPU seconds ..."), or "".
    limit: str = ""
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


class _OutputMeter:
    """Counts the bytes of both streams; `exceeded` once they pass the limit (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.exceeded = threading.Event()

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.limit and self.total > self.limit:
            self.exceeded.set()


def _pump(stream: IO[bytes], sinks: list[Callable[[bytes], None]]) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]  # a pipe is a BufferedReader; IO[bytes] does not declare read1
        for sink in sinks:
            sink(chunk)


def _interpreter(script_type: int) -> list[str]:
    kind = SCRIPT_TYPES.get(script_type)
    if kind == "shell":
        shell = shutil.which("bash", path=SCRIPT_PATH) or shutil.which("sh", path=SCRIPT_PATH)
        if shell:
            return [shell]
    elif kind == "python":
        python = shutil.which("python3", path=SCRIPT_PATH) or sys.executable
        if python:
            return [python]
    elif kind == "perl":
        perl = shutil.which("perl", path=SCRIPT_PATH)
        if perl:
            return [perl]
    elif kind == "powershell":
        pwsh = shutil.which("pwsh", path=SCRIPT_PATH)
        if pwsh:
            return [pwsh, "-NoProfile", "-NonInteractive", "-File"]
    name = kind or f"type {script_type}"
    raise ScriptExecutionDisabled(f"{name} scripts cannot run on this worker (no interpreter found)")


def child_env(workdir: str) -> dict[str, str]:
    """The whole environment of a script: built from nothing, never copied from the worker's."""
    env = {
        "PATH": SCRIPT_PATH,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    try:
        env["USER"] = env["LOGNAME"] = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        pass
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the supervisor to kill the script's processes; kill its group if it does not answer."""
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=KILL_GRACE_SECONDS * 3)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=KILL_GRACE_SECONDS)


def _read_status(fd: int) -> dict[str, object]:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    try:
        report: dict[str, object] = json.loads(b"".join(chunks) or b"{}")
        return report
    except ValueError:
        return {}


def _limit_hit(status: dict[str, object], limits: ScriptLimits, output_exceeded: bool, stderr: str) -> str:
    """A sentence naming the limit that stopped the script, or "" when none did."""
    sig = status.get("signal")
    cpu = status.get("cpu_seconds")
    if output_exceeded:
        return (f"it printed more than {limits.output_mb:g} MiB of output "
                f"(SOPS_SCRIPT_OUTPUT_MB) and was killed")
    if limits.cpu_seconds and (sig == signal.SIGXCPU or (
            sig == signal.SIGKILL and isinstance(cpu, int | float) and cpu >= limits.cpu_seconds)):
        plural = "s" if limits.cpu_seconds != 1 else ""
        return (f"it used more than {limits.cpu_seconds} CPU second{plural} (SOPS_SCRIPT_CPU_SECONDS) "
                f"and was killed")
    if limits.file_mb and (sig == signal.SIGXFSZ or (
            status.get("exit_code") != 0 and "File too large" in stderr)):
        return f"it tried to write a file larger than {limits.file_mb} MiB (SOPS_SCRIPT_FILE_MB)"
    if limits.memory_mb and status.get("exit_code") != 0 and any(m in stderr.lower() for m in _MEMORY_FAILURE_MARKS):
        return (f"it ran out of memory: a process may use at most {limits.memory_mb} MiB of address space "
                f"(SOPS_SCRIPT_MEMORY_MB)")
    leftover = status.get("leftover")
    if isinstance(leftover, int) and leftover > 0:
        return (f"it left {leftover} process{'es' if leftover > 1 else ''} running after it ended; "
                f"{'they were' if leftover > 1 else 'it was'} killed (a script must wait for what it starts)")
    return ""


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

        limits = ScriptLimits.from_settings()
        with tempfile.TemporaryDirectory(prefix="sops-script-") as workdir:
            os.chmod(workdir, 0o700)
            suffix = {"python": ".py", "perl": ".pl", "powershell": ".ps1"}.get(
                SCRIPT_TYPES.get(script_type, ""), ".sh")
            path = os.path.join(workdir, f"script{suffix}")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(script)
            os.chmod(path, 0o700)
            return self._run_process([*command, path, *args], workdir, timeout, should_stop, limits)

    def _run_process(self, argv: list[str], workdir: str, timeout: float,
                     should_stop: Callable[[], bool], limits: ScriptLimits) -> ScriptResult:
        stdout, stderr = _TailBuffer(STDOUT_KEEP_BYTES), _TailBuffer(STDERR_KEEP_BYTES)
        meter = _OutputMeter(limits.output_bytes)
        variables: dict[str, str] = {}
        scanner = _LineScanner(lambda line: _collect_vars(line, variables, self.on_stdout_line))
        status_read, status_write = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", SUPERVISOR, json.dumps(limits.supervisor_config(status_write)),
                 "--", *argv],
                cwd=workdir, env=child_env(workdir), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=(status_write,),
            )
        except BaseException:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        assert process.stdout is not None and process.stderr is not None
        pumps = [
            threading.Thread(target=_pump, args=(process.stdout, [meter.add, stdout.add, scanner.add]),
                             daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, [meter.add, stderr.add]), daemon=True),
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
                if meter.exceeded.wait(self.poll_seconds):
                    break
        finally:
            if process.poll() is None:
                _stop(process)
        # Everything of the script is gone with the supervisor; do not wait forever on a pipe anyway.
        for pump in pumps:
            pump.join(timeout=5)
        scanner.close()
        status = _read_status(status_read)
        exit_code = status.get("exit_code")
        if not isinstance(exit_code, int):
            sig = status.get("signal")
            exit_code = -sig if isinstance(sig, int) else (process.returncode if process.returncode is not None
                                                             else -1)
        stderr_text = stderr.text()
        limit = "" if (timed_out or stopped) else _limit_hit(status, limits, meter.exceeded.is_set(), stderr_text)
        return ScriptResult(
            exit_code=exit_code, stdout=stdout.text(), stderr=stderr_text,
            timed_out=timed_out, stopped=stopped, log_outputs=variables, limit=limit,
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
