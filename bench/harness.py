"""The processes a benchmark needs, started and stopped by the benchmark itself.

A fresh PostgreSQL database (dropped and created, then migrated), two Redis
databases of its own (broker and counters, flushed with FLUSHDB, never
FLUSHALL), Celery workers, the engine's scheduler/sweep if it has one, and
gunicorn for the HTTP scenarios. Every child's output goes to a log file under
bench/results/logs/ so a failed run can be read afterwards.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# One key for every process of a benchmark run (web, workers, scheduler), unless SECRET_KEY is set.
BENCH_SECRET_KEY = secrets.token_urlsafe(50)
RESULTS = REPO / "bench" / "results"


#: The drivers' HTTP clients (run_all.py --client), the first the default. The standard library's
#: http.client costs the driver ~0.2-0.3 ms of CPU per request here; requests, which every latency
#: row used until 2026-12-02's sixteenth pass, costs 0.7-1.1 ms (its session, adapters and hooks),
#: a third of a start_task round trip spent in the driver, not in the service. Each latency row
#: prints its client's cost (http_scenarios.Client).
CLIENT_KINDS = ("http.client", "requests")


@dataclass
class Config:
    pg_url: str = "postgres://postgres@127.0.0.1:5432/"  # server URL without a database name
    db_name: str = "sops_bench"
    redis_url: str = "redis://127.0.0.1:6379"
    broker_db: int = 9
    counters_db: int = 10
    worker_procs: int = 1          # Celery worker (master) processes
    worker_concurrency: int = 2    # prefork children per worker: 2 in all by default
    http_port: int = 8765
    gunicorn_workers: int = 2
    gunicorn_args: tuple[str, ...] = ()  # extra gunicorn options (e.g. a worker class), for comparisons
    http_client: str = CLIENT_KINDS[0]   # the drivers' HTTP client
    sql_detail: bool = False
    profile: bool = False
    log_dir: Path = field(default_factory=lambda: RESULTS / "logs" / time.strftime("%Y%m%d-%H%M%S"))

    @property
    def database_url(self) -> str:
        parts = urlsplit(self.pg_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + self.db_name, parts.query, ""))

    @property
    def profile_dir(self) -> Path:
        return self.log_dir / "profiles"

    @property
    def broker_url(self) -> str:
        return f"{self.redis_url}/{self.broker_db}"

    @property
    def counters_url(self) -> str:
        return f"{self.redis_url}/{self.counters_db}"

    def child_env(self, role: str = "worker") -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "sops_api.settings",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SOPS_BENCH_COUNTERS_URL": self.counters_url,
            "SOPS_BENCH_SQL_DETAIL": "1" if self.sql_detail else "0",
            "SOPS_BENCH_PROFILE_DIR": str(self.profile_dir) if self.profile else "",
            "SOPS_BENCH_ROLE": role,
            "DEBUG": "0",
            # DATABASE_URL is set, so the processes refuse to start without a key of their own
            "SECRET_KEY": os.environ.get("SECRET_KEY") or BENCH_SECRET_KEY,
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            # bench_poll is not in the production registry: every process loads it from here.
            "SOPS_COMPONENT_MODULES": ",".join(filter(None, [os.environ.get("SOPS_COMPONENT_MODULES", ""),
                                                             "bench.components"])),
        })
        return env


def _pg_cli_args(cfg: Config) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(cfg.pg_url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return args, env


def fresh_database(cfg: Config) -> None:
    """Drop and create the benchmark's own database, then migrate it."""
    args, env = _pg_cli_args(cfg)
    subprocess.run(["dropdb", *args, "--if-exists", "--force", cfg.db_name], check=True, env=env)
    subprocess.run(["createdb", *args, cfg.db_name], check=True, env=env)
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                   check=True, cwd=REPO, env=cfg.child_env("driver"))


def drop_database(cfg: Config) -> None:
    args, env = _pg_cli_args(cfg)
    subprocess.run(["dropdb", *args, "--if-exists", "--force", cfg.db_name], check=False, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def flush_redis(cfg: Config) -> None:
    """FLUSHDB on our own databases only; other engineers share this Redis server."""
    import redis

    for db in (cfg.broker_db, cfg.counters_db):
        redis.Redis.from_url(f"{cfg.redis_url}/{db}").flushdb()


class Managed:
    """A child process with a log file; stopped politely, then killed."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # A new session: our signals reach the whole tree (prefork children included) and
        # nothing of ours leaks onto the terminal's process group.
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc (psutil is not installed)."""
    found: list[int] = []
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(x) for x in path.read_text().split()]
    except OSError:
        pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: fields start after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """user + system CPU time a process has used, from /proc/<pid>/stat (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_backends() -> list[int]:
    """Server processes serving our database (the driver's own connection among them)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cur.fetchall()]


class CpuMeter:
    """Where the CPU goes during a scenario: the driver, the Celery workers, PostgreSQL.

    On a 2-core machine the figures are CPU-bound, so CPU per node says more than
    statement latencies (which mostly measure waiting for a core). PostgreSQL is
    counted over the backends serving the benchmark database only.
    """

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.before: dict[str, dict[int, float]] = {}

    def _snapshot(self) -> dict[str, dict[int, float]]:
        worker_pids = [p.pid for p in self.workers.procs] + self.workers.child_pids()
        return {
            "driver": {os.getpid(): cpu_seconds(os.getpid())},
            "workers": {pid: cpu_seconds(pid) for pid in worker_pids},
            "postgres": {pid: cpu_seconds(pid) for pid in postgres_backends()},
        }

    def start(self) -> None:
        self.before = self._snapshot()

    def stop(self) -> dict[str, float]:
        """CPU seconds used per role since start()."""
        after = self._snapshot()
        used: dict[str, float] = {}
        for role, pids in after.items():
            used[role] = sum(max(0.0, t - self.before.get(role, {}).get(pid, 0.0)) for pid, t in pids.items())
        return used


class Workers:
    """Celery worker processes with the counting module loaded (`counting=False`: it only says
    when they are ready; see bench/sql_count.py)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.procs: list[Managed] = []
        self.counting = True

    def start(self, timeout: float = 60.0, *, counting: bool = True) -> None:
        import redis

        self.counting = counting
        env = {**self.cfg.child_env("worker"), "SOPS_BENCH_COUNT": "1" if counting else "0"}

        counters = redis.Redis.from_url(self.cfg.counters_url)
        counters.delete(*counters.keys("sopsbench:ready:*") or ["sopsbench:none"])
        for i in range(self.cfg.worker_procs):
            argv = [str(VENV_BIN / "celery"), "-A", "sops_api", "worker", "-P", "prefork",
                    "-c", str(self.cfg.worker_concurrency), "-n", f"bench{i}@%h", "-I", "bench.sql_count",
                    # Gossip, mingle and heartbeats are cluster chatter the engine does not need.
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-l", "WARNING"]
            self.procs.append(Managed(f"worker{i}", argv, env, self.cfg.log_dir))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(counters.keys("sopsbench:ready:*")) >= len(self.procs):
                # Prefork children fork after worker_ready; give them a moment to exist.
                time.sleep(0.5)
                return
            for p in self.procs:
                if not p.alive():
                    raise RuntimeError(f"worker {p.name} exited:\n{p.tail()}")
            time.sleep(0.1)
        raise RuntimeError("workers did not become ready:\n" + "\n".join(p.tail() for p in self.procs))

    def child_pids(self) -> list[int]:
        pids: list[int] = []
        for p in self.procs:
            pids.extend(children_of(p.pid))
        return pids

    def rss_kib(self) -> dict[int, int]:
        """RSS of every process doing the work (prefork children, else the masters)."""
        pids = self.child_pids() or [p.pid for p in self.procs]
        return {pid: rss_kib(pid) for pid in pids}

    def stop(self) -> None:
        for p in self.procs:
            p.stop()
        self.procs.clear()


def manage_commands() -> set[str]:
    """Management command names available in this checkout (no Django setup needed)."""
    names: set[str] = set()
    for app_dir in REPO.iterdir():
        cmd_dir = app_dir / "management" / "commands"
        if cmd_dir.is_dir():
            names.update(p.stem for p in cmd_dir.glob("*.py") if not p.stem.startswith("_"))
    return names


class Scheduler:
    """The engine's sweep (reaper, due timers), via the periodic app's run_scheduler when it exists."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.proc: Managed | None = None

    def start(self) -> bool:
        if "run_scheduler" not in manage_commands():
            return False
        argv = [str(VENV_BIN / "python"), "manage.py", "run_scheduler"]
        self.proc = Managed("scheduler", argv, self.cfg.child_env("scheduler"), self.cfg.log_dir)
        time.sleep(0.5)
        if not self.proc.alive():
            raise RuntimeError(f"run_scheduler exited:\n{self.proc.tail()}")
        return True

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class Gunicorn:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.proc: Managed | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.http_port}"

    def start(self, timeout: float = 30.0) -> None:
        if port_open(self.cfg.http_port):
            raise RuntimeError(f"port {self.cfg.http_port} is already in use; pass --http-port")
        # The settings `make run` and docker-compose serve with (the access log and its masking
        # included), so the figures are what an operator's server costs; the options below win.
        argv = [str(VENV_BIN / "gunicorn"), "--config", "python:sops_api.gunicorn_conf",
                "-w", str(self.cfg.gunicorn_workers), "-b",
                f"127.0.0.1:{self.cfg.http_port}", "--log-level", "warning", *self.cfg.gunicorn_args,
                "sops_api.wsgi:application"]
        self.proc = Managed("gunicorn", argv, self.cfg.child_env("web"), self.cfg.log_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(self.cfg.http_port):
                return
            if not self.proc.alive():
                raise RuntimeError(f"gunicorn exited:\n{self.proc.tail()}")
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start listening")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None


def machine_info(cfg: Config) -> dict[str, Any]:
    """What the figures were measured on, printed at the top of every report."""
    info: dict[str, Any] = {}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
        info["cpu"] = models[0] if models else "unknown"
    except OSError:
        info["cpu"] = "unknown"
    info["cores"] = os.cpu_count()
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["ram_gib"] = round(int(mem) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        info["ram_gib"] = None
    import platform

    info["python"] = platform.python_version()
    try:
        # Other people's work on a shared machine shows here; figures taken under load are noisy.
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    info["kernel"] = platform.release()
    args, env = _pg_cli_args(cfg)
    try:
        out = subprocess.run(["psql", *args, "-d", "postgres", "-Atc", "SHOW server_version"],
                             capture_output=True, text=True, env=env, timeout=10)
        info["postgresql"] = out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        info["postgresql"] = f"unknown ({exc})"
    try:
        import redis

        info["redis"] = redis.Redis.from_url(cfg.counters_url).info("server").get("redis_version")
    except Exception as exc:  # noqa: BLE001 - a report header must not crash the run
        info["redis"] = f"unknown ({exc})"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        info["git"] = commit + ("+dirty" if dirty else "")
    except OSError:
        info["git"] = "unknown"
    info["wrk"] = shutil.which("wrk") is not None
    info.update(reference_speed(cfg))
    return info


def python_reference_ms(rounds: int = 5, n: int = 1_000_000) -> float:
    """The best of `rounds` timings of a fixed pure-Python loop, in ms: this interpreter's speed on
    this core. Figures from machines whose reference differs scale by about its ratio: the web
    process, the workers and the walker are CPU-bound Python."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        total = 0
        for i in range(n):
            total += i
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def postgres_round_trip_us(dsn: str, calls: int = 300) -> float:
    """The median round trip of `SELECT 1` to the benchmark's PostgreSQL, in microseconds."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        cur = conn.cursor()
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchone()
            samples.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return statistics.median(samples) * 1e6


def reference_speed(cfg: Config) -> dict[str, Any]:
    """The machine's speed on two fixed workloads, printed with the figures so that runs on
    different machines can be compared (a 3x slower core gives ~3x slower round trips)."""
    info: dict[str, Any] = {"python_reference_ms": round(python_reference_ms(), 1)}
    try:
        parts = urlsplit(cfg.pg_url)
        dsn = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
        info["postgres_round_trip_us"] = round(postgres_round_trip_us(dsn))
    except Exception as exc:  # noqa: BLE001 - a report header must not crash the run
        info["postgres_round_trip_us"] = f"unknown ({exc})"
    return info
