"""A PostgreSQL server of the fault tests' own: the only database server a test may stop or restart.

The database restart test must take its database server down while a worker,
a scheduler and web workers hold connections to it. The machine's shared
server is never touched: the test makes a cluster with `initdb` in a fresh
temporary folder, runs `postgres` on a free port (127.0.0.1 and a socket in
that folder), and stops and starts only that process, by its own PID:

- ``restart("fast")`` is what an operator's restart does (``pg_ctl restart``,
  ``systemctl restart``): open transactions are cut, everything committed is
  flushed, nothing is lost;
- ``restart("immediate")`` is a crash (the postmaster quits without a
  checkpoint, as after ``kill -9`` of a backend or a power cut of the
  process): asynchronously committed transactions whose WAL was not written
  yet are lost.

PostgreSQL refuses to run as root; under root the server runs as the
``postgres`` system account (the folder is handed to it).
"""
from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PORTS = range(15500, 16500)
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def bin_dir() -> Path | None:
    """Where initdb and postgres are: SOPS_FAULTS_PG_BIN, pg_config --bindir, PATH, or Debian's layout."""
    candidates: list[Path] = []
    if os.environ.get("SOPS_FAULTS_PG_BIN"):
        candidates.append(Path(os.environ["SOPS_FAULTS_PG_BIN"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when the tests run as root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(os.environ.get("SOPS_FAULTS_PG_USER", "postgres"))
    except KeyError:
        return None


def unavailable_reason() -> str | None:
    """Why this machine cannot run a private server, or None when it can."""
    if bin_dir() is None:
        return "initdb/postgres not found (set SOPS_FAULTS_PG_BIN to PostgreSQL's bin folder)"
    if os.geteuid() == 0 and server_user() is None:
        return "running as root and there is no 'postgres' account to run the private server as"
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class OwnPostgres:
    """initdb once; start on a free port (the same one on every restart); stop by signal; remove."""

    def __init__(self, user: str = "postgres") -> None:
        folder = bin_dir()
        if folder is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL binaries")
        self.bin = folder
        self.user = user
        self.account = server_user()
        # Not under pytest's tmp_path: its parents are private to root, and the server may run as
        # another account.
        self.base = Path(tempfile.mkdtemp(prefix="sops-faults-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.stops: list[dict[str, float | str]] = []
        if self.account is not None:
            os.chown(self.base, self.account.pw_uid, self.account.pw_gid)

    def _demote(self) -> None:  # runs in the child, before exec
        if self.account is not None:
            os.setgid(self.account.pw_gid)
            os.setuid(self.account.pw_uid)

    def _run(self, *args: str) -> None:
        with open(self.log, "ab") as log:
            subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, stdout=log, stderr=subprocess.STDOUT,
                           preexec_fn=self._demote, cwd=self.base, timeout=120)

    def init(self) -> None:
        self.log.touch()
        if self.account is not None:
            os.chown(self.log, self.account.pw_uid, self.account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        """Start (again, on the same port once one was chosen); return once it accepts connections."""
        candidates = [self.port] if self.port else random.sample(list(PORTS), 40)
        for port in candidates:
            if not _port_free(port):
                continue
            if self._try(port, timeout):
                self.port = port
                return
        raise RuntimeError(f"could not start the private PostgreSQL server (see {self.log})")

    def _try(self, port: int, timeout: float) -> bool:
        cmd = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(port), "-k", str(self.base),
               "-c", "listen_addresses=127.0.0.1",
               # A test server: no durability to the disk (a *process* crash still loses only the
               # WAL that was never written, as on a real server), a short checkpoint on stop.
               "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=60"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=self._demote,
                                         start_new_session=True, cwd=self.base)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # most likely lost the port to someone else
            if self.accepting(port):
                return True
            time.sleep(0.05)
        self.stop("immediate")
        return False

    def accepting(self, port: int | None = None) -> bool:
        import psycopg2

        try:
            psycopg2.connect(host="127.0.0.1", port=port or self.port, user=self.user, dbname="postgres",
                             connect_timeout=2).close()
        except psycopg2.Error:
            return False
        return True

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> float:
        """Stop the server the way `pg_ctl stop -m <mode>` does; return how long it took."""
        started = time.monotonic()
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(STOP_SIGNALS[mode])
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own server's process group only
                self.proc.wait(10)
        return time.monotonic() - started

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> dict[str, float | str]:
        """Stop, stay down `down_for` seconds, start again; returns the timings (s)."""
        t0 = time.monotonic()
        stop_s = self.stop(mode)
        if down_for:
            time.sleep(down_for)
        self.start()
        record: dict[str, float | str] = {"mode": mode, "stop_s": round(stop_s, 2),
                                          "down_s": round(time.monotonic() - t0, 2), "t0": t0,
                                          "up_at": time.monotonic()}
        self.stops.append(record)
        return record

    def execute(self, database: str, sql: str, params: tuple = ()) -> list[tuple]:
        """One statement on a connection of its own (autocommit); the rows it returns."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database,
                                connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def remove(self) -> None:
        """Stop (immediately) and delete the cluster."""
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
