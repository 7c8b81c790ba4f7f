"""Runs one script under resource limits and leaves no process of it behind.

Started by `script_executors.LocalScriptExecutor` as

    python -I -S script_supervisor.py CONFIG_JSON -- ARGV...

(isolated and without `site`: it imports the standard library only, never the project, so it
starts in a few milliseconds and sees nothing of the worker). It

1. becomes a child subreaper (Linux), so every process the script starts, even one that
   detaches with setsid or a double fork, is re-parented to it instead of to init;
2. asks to be sent SIGTERM if the worker dies;
3. forks the script into a process group of its own, sets its limits (CPU seconds, address
   space, file size, open files, processes, no core dumps) and execs it; the script is
   killed if the supervisor dies;
4. waits for the script, then kills every process of it that is still there (those the
   script left running, and on SIGTERM, from the worker's timeout or stop, the script
   itself), reaps them, and writes one JSON line about the run to the status fd.

CONFIG_JSON: {"status_fd": int, "cpu_seconds": int, "memory_bytes": int, "file_bytes": int,
"open_files": int, "processes": int}; 0 leaves a limit as the worker has it.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLEANUP_SECONDS = 5.0


class _Terminated(Exception):
    pass


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux
        return False


def _processes() -> list[tuple[int, int, int, str, int]]:
    """(pid, parent pid, process group, state, uid) of every process in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            uid = os.stat(f"/proc/{entry}").st_uid
        except (OSError, IndexError):
            continue  # gone meanwhile
        found.append((int(entry), int(fields[1]), int(fields[2]), fields[0].decode(), uid))
    return found


def _live_children() -> list[int]:
    me = os.getpid()
    return [pid for pid, parent, _group, state, _uid in _processes() if parent == me and state != "Z"]


def _left_behind(group: int) -> int:
    """Live processes of the script after its main process ended: its group, and what was re-parented to us."""
    me = os.getpid()
    return sum(1 for pid, parent, pgrp, state, _uid in _processes()
               if state != "Z" and pid != me and (parent == me or pgrp == group))


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_descendants(group: int) -> None:
    """Kill the script's process group, then every process re-parented to us, until none is left
    (a killed parent's children come to us next: each round reaches one generation further)."""
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + CLEANUP_SECONDS
    while time.monotonic() < deadline:
        _reap()
        live = _live_children()
        if not live:
            break
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    _reap()


def _limit(kind: int, value: int, soft: int | None = None) -> None:
    if value <= 0:
        return
    _current_soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    soft_value = value if soft is None else min(soft, value)
    resource.setrlimit(kind, (soft_value, value))


def _exec_script(config: dict[str, Any], argv: list[str], processes: int) -> None:
    """In the forked child: own group, limits, exec. Never returns."""
    try:
        os.setpgid(0, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_DFL)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        cpu = int(config.get("cpu_seconds") or 0)
        # The soft limit sends SIGXCPU, the hard one a second later SIGKILL.
        _limit(resource.RLIMIT_CPU, cpu + 1 if cpu else 0, soft=cpu)
        _limit(resource.RLIMIT_AS, int(config.get("memory_bytes") or 0))
        _limit(resource.RLIMIT_FSIZE, int(config.get("file_bytes") or 0))
        _limit(resource.RLIMIT_NOFILE, int(config.get("open_files") or 0))
        _limit(resource.RLIMIT_NPROC, processes)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.execv(argv[0], argv)
    except BaseException as exc:  # noqa: BLE001 - report anything, then leave
        try:
            os.write(2, f"the script could not start: {exc}\n".encode())
        finally:
            os._exit(127)


def main(args: list[str]) -> int:
    config = json.loads(args[0])
    argv = args[2:] if len(args) > 1 and args[1] == "--" else args[1:]
    status_fd = int(config["status_fd"])
    os.set_inheritable(status_fd, False)

    state = {"waiting": True, "terminated": False}

    def terminate(signum: int, frame: object) -> None:
        state["terminated"] = True
        if state["waiting"]:
            raise _Terminated

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    subreaper = _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the worker died before we could ask
        return 1
    processes = int(config.get("processes") or 0)
    if processes:
        # RLIMIT_NPROC counts every process of the user, not just the script's.
        processes += sum(1 for *_rest, uid in _processes() if uid == os.getuid())

    pid = os.fork()
    if pid == 0:
        _exec_script(config, argv, processes)
    status, usage = 0, None
    try:
        while True:
            done, status, usage = os.wait4(pid, 0)
            if done == pid:
                state["waiting"] = False
                break
    except _Terminated:
        state["waiting"] = False
    terminated = state["terminated"]
    leftover = 0 if terminated else _left_behind(pid)
    if terminated:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            _done, status, usage = os.wait4(pid, 0)
        except ChildProcessError:
            pass  # it had ended, and was reaped, just before the signal
    _kill_descendants(pid)
    report = {
        "exit_code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3) if usage is not None else None,
        "max_rss_kb": usage.ru_maxrss if usage is not None else None,
        "leftover": leftover,
        "terminated": terminated,
        "subreaper": subreaper,
    }
    os.write(status_fd, (json.dumps(report) + "\n").encode())
    os.close(status_fd)
    if report["exit_code"] is not None:
        return int(report["exit_code"])
    return 128 + int(report["signal"] or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
