"""A redis-server of the fault tests' own: isolated from every other user of the machine's Redis.

Several test sessions may run on one machine at once (developers, CI jobs of
other checkouts). A shared Redis database number is not private enough: a
worker of another session would take this session's messages and drop them
("run not found"). So when `redis-server` is installed the fault tests start
their own, on a free port, without persistence; the restart test kills and
restarts such a server, which also empties it.
"""
from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PORTS = range(6390, 6500)


def available() -> bool:
    return shutil.which("redis-server") is not None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class OwnRedis:
    """Start on a free port (retrying when another process wins the race); kill; restart empty."""

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.log = log
        self.port = port or 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start (again, on the same port once one was chosen)."""
        candidates = [self.port] if self.port else random.sample(list(PORTS), len(PORTS))
        for port in candidates:
            if not _port_free(port):
                continue
            if self._try(port, timeout):
                self.port = port
                return
        raise RuntimeError(f"could not start redis-server (see {self.log})")

    def _try(self, port: int, timeout: float) -> bool:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # lost the port to someone else
            if not _port_free(port) and self._is_ours(port):
                return True
            time.sleep(0.02)
        self.kill()
        return False

    def _is_ours(self, port: int) -> bool:
        import redis

        try:
            info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).info("server")
        except Exception:  # noqa: BLE001 - not up yet
            return False
        return self.proc is not None and int(info.get("process_id", -1)) == self.proc.pid

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()  # this server is the tests' alone
