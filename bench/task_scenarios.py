"""The fixed cost of a task, seen from outside through the HTTP API (issue 11).

Every row here goes through gunicorn (2 workers) and the Celery worker the
harness started, as a caller would: create_task, start_task,
create_and_start_task round trips; start_task sent -> FINISHED seen by polling
get_task_status every millisecond; 100 small exclusive-gateway runs; 50
concurrent 10-node runs including their start calls; locust clients looping
create_and_start_task and waiting for FINISHED; a storm of node_callback on
1,000 waiting tasks; and 10,000 periodic tasks due in the same minute with one
and with two schedulers.

Latency rows give the median over every request and the min/median/max of the
per-run medians (one run = one batch of requests; `--repeat` runs).
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from . import trees
from .harness import REPO, VENV_BIN, Config, Managed, children_of, cpu_seconds, postgres_backends
from .http_scenarios import ACCESS_TOKEN, APP_CODE, APP_SECRET, Client, Seed, seed
from .scenarios import Result, Target

NAMES = ["task_start_10", "task_create_10", "task_create_and_start_10", "task_chain10_finished",
         "task_exclusive_100", "task_concurrent_50x10", "task_locust_loop", "task_callbacks_1000",
         "periodic_10000_one", "periodic_10000_two"]
POLL_S = 0.001


# --------------------------------------------------------------------------- trees
def mixed10() -> dict[str, Any]:
    """8 no-op nodes, one node that polls once, one exclusive gateway (and its converge gateway)."""
    b = trees.TreeBuilder("mix")
    b.constant("choice", 1)
    head = [b.activity("noop") for _ in range(3)]
    poll = b.activity("bench_poll")
    mid = b.activity("noop")
    gate = b.gateway("ExclusiveGateway", conditions={})
    join = b.gateway("ConvergeGateway")
    b.gateways[gate]["converge_gateway_id"] = join
    b.chain(b.start_id, [*head, poll, mid, gate])
    for value in (1, 2):
        act = b.activity("noop")
        flow = b.link(gate, act)
        b.gateways[gate]["conditions"][flow] = {"evaluate": f"${{choice}} == {value}", "name": f"choice {value}"}
        b.link(act, join)
    tail = [b.activity("noop") for _ in range(2)]
    last = b.chain(join, tail)
    b.link(last, b.end_id)
    return b.build()


def pause_one() -> dict[str, Any]:
    return trees.linear_chain(1, code="pause_node", prefix="pau")


# --------------------------------------------------------------------------- helpers
class TaskClient(Client):
    """The HTTP client of http_scenarios plus the calls of a task's life."""

    def created(self, template_id: int, name: str, endpoint: str = "create_task") -> tuple[float, int]:
        elapsed, body = self.post(endpoint, template_id, {"name": name, "flow_type": "common"})
        if not body.get("result"):
            raise RuntimeError(f"{endpoint} failed: {body.get('message')}")
        return elapsed, int(body["data"]["task_id"])

    def start(self, task_id: int) -> float:
        elapsed, body = self.post("start_task", task_id, {})
        if not body.get("result"):
            raise RuntimeError(f"start_task failed: {body.get('message')}")
        return elapsed

    def state(self, task_id: int) -> str:
        _, body = self.get("get_task_status", task_id)
        return str((body.get("data") or {}).get("state", ""))

    def wait_finished(self, task_id: int, interval: float = POLL_S, timeout: float = 60) -> float:
        """Poll get_task_status until FINISHED; the perf_counter() when it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(task_id)
            if state == "FINISHED":
                return time.perf_counter()
            if state in ("FAILED", "REVOKED"):
                raise RuntimeError(f"task {task_id} ended {state}")
            time.sleep(interval)
        raise RuntimeError(f"task {task_id} not FINISHED after {timeout}s")


def _latency(name: str, what: str, target_ms: float, runs: list[list[float]], **extra: Any) -> Result:
    """A latency row: median of every request; min/median/max of the per-run medians."""
    r = Result(name, what, Target(f"median <= {target_ms:g} ms", median_ms=target_ms))
    every = sorted(x * 1e3 for run in runs for x in run)
    medians = [statistics.median(run) * 1e3 for run in runs if run]
    r.extra.update(requests=len(every), median_ms=statistics.median(every), min_ms=min(medians),
                   max_ms=max(medians), run_medians_ms=[round(m, 2) for m in medians],
                   p95_ms=every[max(0, int(len(every) * 0.95) - 1)],
                   p99_ms=every[max(0, int(len(every) * 0.99) - 1)], **extra)
    return r


def _guard(name: str, what: str, target: str, fn: Callable[[], Result]) -> Result:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one broken row must not hide the others
        return Result(name, what, Target(target), error=f"{type(exc).__name__}: {exc}")


class ProcessCpu:
    """CPU seconds of the web (gunicorn), the Celery workers and our PostgreSQL backends."""

    def __init__(self, web_pid: int | None, workers: Any) -> None:
        self.web_pid, self.workers = web_pid, workers

    def snapshot(self) -> dict[str, dict[int, float]]:
        web = [self.web_pid, *children_of(self.web_pid)] if self.web_pid else []
        worker = [p.pid for p in self.workers.procs] + self.workers.child_pids() if self.workers else []
        return {"web": {p: cpu_seconds(p) for p in web}, "worker": {p: cpu_seconds(p) for p in worker},
                "postgres": {p: cpu_seconds(p) for p in postgres_backends()}}

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {role: sum(max(0.0, t - before[role].get(pid, 0.0)) for pid, t in pids.items())
                for role, pids in after.items()}

    def used_during(self, work: Callable[[], Any], every: float = 0.5) -> tuple[Any, dict[str, float]]:
        """work()'s result and the CPU seconds each role used while it ran.

        The processes are sampled every `every` seconds, not only before and after: a process
        that ends meanwhile keeps what it had used at its last sample. PostgreSQL backends do
        end mid-row: a connection is closed once it is CONN_MAX_AGE old (a minute), so a
        before/after count lost most of the database's CPU in the 60-second locust loop."""
        from django.db import connection

        before = self.snapshot()
        last = {role: dict(pids) for role, pids in before.items()}

        def merge(snapshot: dict[str, dict[int, float]]) -> None:
            for role, pids in snapshot.items():
                for pid, seconds in pids.items():
                    last[role][pid] = max(seconds, last[role].get(pid, 0.0))

        stop = threading.Event()

        def sample() -> None:
            try:
                while not stop.wait(every):
                    merge(self.snapshot())
            finally:
                connection.close()  # this thread's own connection (postgres_backends)

        sampler = threading.Thread(target=sample, name="bench-cpu-sampler", daemon=True)
        sampler.start()
        try:
            result = work()
        finally:
            stop.set()
            sampler.join()
        merge(self.snapshot())
        return result, self.used(before, last)


def _fan_out(n: int, work: Callable[[int], None]) -> float:
    """Run work(0..n-1) in n threads released together; the perf_counter() at the release."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(n + 1)

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    barrier.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return t0


def _start_and_wait(client: TaskClient, ids: list[int], starts_done: list[float], ends: list[float]) -> None:
    for tid in ids:
        client.start(tid)
    starts_done.append(time.perf_counter())
    for tid in ids:
        ends.append(client.wait_finished(tid, interval=0.002))


def _call_back(client: TaskClient, ids: list[int], node_of: dict[int, str], errors: list[str],
               sent_at: list[float]) -> None:
    for tid in ids:
        _, body = client.post("node_callback", tid, {"node_id": node_of[tid], "callback_data": {"ok": 1}})
        if not body.get("result"):
            errors.append(str(body.get("message")))
    sent_at.append(time.perf_counter())


# --------------------------------------------------------------------------- scenarios
class TaskBench:
    def __init__(self, cfg: Config, base_url: str, quick: bool, repeat: int, web_pid: int | None,
                 workers: Any, scheduler: Any, locust_seconds: int) -> None:
        self.cfg, self.quick, self.repeat = cfg, quick, repeat
        self.web_pid, self.workers, self.scheduler = web_pid, workers, scheduler
        self.locust_seconds = locust_seconds
        self.seed: Seed = seed(base_url)
        from access_app.models import Business
        from templates_app.services import create_template

        business = Business.objects.get(bk_biz_id=self.seed.biz_id)
        self.business = business
        make = lambda name, tree: create_template(name=name, pipeline_tree=tree, creator="bench",  # noqa: E731
                                                   business=business).pk
        self.chain10 = make("bench 10 noop", trees.linear_chain(10))
        self.exclusive = self.seed.small_template_id
        self.mixed10 = make("bench mixed 10", mixed10())
        self.pause = make("bench pause", pause_one())
        self.client = TaskClient(self.seed, cfg.http_client)
        self._names = iter(range(10**9))
        # Warm both gunicorn workers (imports, connections, caches).
        for _ in range(6):
            _, tid = self.client.created(self.chain10, self.name())
            self.client.start(tid)
            self.client.wait_finished(tid)

    def name(self) -> str:
        return f"bench t{next(self._names)}"

    def batch(self) -> int:
        return 20 if self.quick else 50

    def _row(self, name: str, what: str, target_ms: float, measure: Callable[[], list[list[float]]]) -> Result:
        """A latency row of `measure`'s runs, with the driver's own CPU per request (self.client's)."""
        mark = (self.client.cpu_s, self.client.calls)
        runs = measure()
        return _latency(name, what, target_ms, runs, client_cpu_ms=self.client.cpu_ms_per_call_since(mark))

    # -- round trips ----------------------------------------------------------------
    def _starts(self) -> list[list[float]]:
        runs = []
        for _ in range(self.repeat):
            ids = [self.client.created(self.chain10, self.name())[1] for _ in range(self.batch())]
            runs.append([self.client.start(tid) for tid in ids])
        return runs

    def start_10(self) -> Result:
        return self._row("task_start_10", "start_task round trip, 10-node no-op template", 2.5, self._starts)

    def create_10(self) -> Result:
        return self._row("task_create_10", "create_task round trip, 10-node template", 4,
                         lambda: [[self.client.created(self.chain10, self.name())[0] for _ in range(self.batch())]
                                  for _ in range(self.repeat)])

    def create_and_start_10(self) -> Result:
        return self._row("task_create_and_start_10", "create_and_start_task round trip, 10-node template", 6,
                         lambda: [[self.client.created(self.chain10, self.name(), "create_and_start_task")[0]
                                   for _ in range(self.batch())] for _ in range(self.repeat)])

    # -- start -> FINISHED ----------------------------------------------------------
    def _start_to_finished(self, template_id: int, count: int) -> list[list[float]]:
        runs = []
        for _ in range(self.repeat):
            ids = [self.client.created(template_id, self.name())[1] for _ in range(count)]
            run = []
            for tid in ids:
                t0 = time.perf_counter()
                self.client.start(tid)
                run.append(self.client.wait_finished(tid) - t0)
            runs.append(run)
        return runs

    def chain10_finished(self) -> Result:
        return self._row("task_chain10_finished", "10-node no-op chain, start_task sent -> FINISHED seen "
                         "(get_task_status every 1 ms)", 4,
                         lambda: self._start_to_finished(self.chain10, self.batch()))

    def exclusive_100(self) -> Result:
        count = 30 if self.quick else 100
        return self._row("task_exclusive_100", f"{count} small exclusive-gateway runs one after another, "
                         "start_task sent -> FINISHED seen, per run", 2.5,
                         lambda: self._start_to_finished(self.exclusive, count))

    def concurrent_50x10(self) -> Result:
        """50 tasks of 10 no-op nodes started by 16 client threads; first start sent to last FINISHED seen."""
        name = "task_concurrent_50x10"
        r = Result(name, "50 concurrent 10-node runs incl. their 50 start_task calls (16 client threads), "
                   "first start sent -> last FINISHED seen", Target("<= 0.17 s in all", median_ms=170))
        threads_n = 16
        clients = [TaskClient(self.seed, self.cfg.http_client) for _ in range(threads_n)]
        for _ in range(self.repeat):
            ids = [self.client.created(self.chain10, self.name())[1] for _ in range(50)]
            chunks = [ids[i::threads_n] for i in range(threads_n)]
            ends: list[float] = []
            starts_done: list[float] = []
            work = partial(lambda i, chunks, s, e: _start_and_wait(clients[i], chunks[i], s, e),
                           chunks=chunks, s=starts_done, e=ends)
            t0 = _fan_out(threads_n, work)
            r.samples.append({"wall_s": max(ends) - t0, "start_phase_s": max(starts_done) - t0})
        r.extra["start_phase_median_ms"] = r.figure("start_phase_s") * 1e3
        return r

    # -- locust: create_and_start_task loops ---------------------------------------------
    def locust_loop(self) -> Result:
        name = "task_locust_loop"
        seconds = self.locust_seconds
        r = Result(name, f"locust, 16 users looping create_and_start_task of a 10-node template (8 no-op, "
                   f"1 poll-once, 1 exclusive gateway) and polling get_task_status until FINISHED, {seconds} s",
                   Target(">= 200 completed tasks/s, p99 <= 150 ms, no error", rps=200))
        out_dir = self.cfg.log_dir / "locust"
        out_dir.mkdir(parents=True, exist_ok=True)
        prefix = out_dir / "task_loop"
        env = dict(os.environ)
        env.update(SOPS_BENCH_TEMPLATE=str(self.mixed10), SOPS_BENCH_BIZ=str(self.seed.biz_id),
                   SOPS_BENCH_CREDS=f"{APP_CODE}:{APP_SECRET}:{ACCESS_TOKEN}")
        argv = [str(VENV_BIN / "locust"), "-f", str(REPO / "bench" / "locust_tasks.py"), "--headless",
                "-u", "16", "-r", "16", "-t", f"{seconds}s", "--host", self.seed.base_url,
                "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"]
        import resource

        kids_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(out_dir / "locust_tasks.log", "wb") as log:
            proc, used = ProcessCpu(self.web_pid, self.workers).used_during(partial(
                subprocess.run, argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 120))
        kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used["locust"] = (kids_after.ru_utime + kids_after.ru_stime) - (kids_before.ru_utime + kids_before.ru_stime)
        stats_path = Path(f"{prefix}_stats.csv")
        if not stats_path.exists():
            r.error = f"locust wrote no stats (exit {proc.returncode}); see {out_dir / 'locust_tasks.log'}"
            return r
        with open(stats_path) as fh:
            rows = {row["Name"]: row for row in csv.DictReader(fh)}
        done = rows.get("request -> FINISHED")
        completed = int(done["Request Count"]) if done else 0
        failures = sum(int(row["Failure Count"]) for n, row in rows.items() if n != "Aggregated")
        per_task = {role: round(sec * 1e3 / completed, 2) for role, sec in used.items()} if completed else {}
        r.extra.update(
            rps=completed / seconds, completed=completed, failures=failures, seconds=seconds,
            median_ms=float(done["Median Response Time"]) if done else None,
            p99_ms=float(done["99%"]) if done else None,
            p95_ms=float(done["95%"]) if done else None,
            cpu_ms_per_task=per_task,
            requests={n: int(row["Request Count"]) for n, row in rows.items()},
        )
        if failures:
            r.error = f"{failures} failed requests or tasks (see {out_dir})"
        elif done is not None and float(done["99%"]) > 150:
            r.extra["p99_miss"] = True
        return r

    # -- node_callback storm ------------------------------------------------------------
    def callbacks_1000(self) -> Result:
        name = "task_callbacks_1000"
        count = 200 if self.quick else 1000
        r = Result(name, f"{count:,} tasks waiting at a pause node; node_callback for all from 16 clients; "
                   "time until all FINISHED", Target("all FINISHED within 10 s; >= 200 callbacks/s", rps=200))
        from access_app.models import Role  # noqa: F401 - the seed made the caller an operator
        from pipeline_engine import api
        from tasks_app.models import OperateSource, TaskInstance
        from tasks_app.services import create_and_start_task
        from templates_app.models import Template

        template = Template.objects.get(pk=self.pause)
        for _ in range(self.repeat):
            ids = []
            node_of: dict[int, str] = {}  # a task's node ids are its own (regenerated from the template's)
            for _ in range(count):
                task = create_and_start_task(business=self.business, template=template, name=self.name(),
                                             creator="bench", app_code=APP_CODE, executor="bench",
                                             source=OperateSource.API)
                ids.append(task.pk)
                node_of[task.pk] = next(iter(task.pipeline_tree["activities"]))
            run_ids = dict(TaskInstance.objects.filter(pk__in=ids).values_list("pk", "run_id"))
            # pause_node is inline (its execute ran in the start), so this finds them all waiting at once;
            # it still waits, so that a component run in a worker would be measured the same way.
            deadline = time.monotonic() + 120
            from pipeline_engine.runtime.models import NodeState

            while time.monotonic() < deadline:
                waiting = NodeState.objects.filter(run_id__in=list(run_ids.values()), node_type="ServiceActivity",
                                                   state="RUNNING", phase="callback").count()
                if waiting >= count:
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"only {waiting} of {count} tasks wait at their pause node")
            threads_n = 16
            clients = [TaskClient(self.seed, self.cfg.http_client) for _ in range(threads_n)]
            chunks = [ids[i::threads_n] for i in range(threads_n)]
            errors: list[str] = []
            sent_at: list[float] = []
            work = partial(lambda i, cl, chunks, nodes, e, s: _call_back(cl[i], chunks[i], nodes, e, s),
                           cl=clients, chunks=chunks, nodes=node_of, e=errors, s=sent_at)
            t0 = _fan_out(threads_n, work)
            sent = max(sent_at) - t0
            pending = set(run_ids.values())
            while pending and time.perf_counter() - t0 < 120:
                states = api.get_run_summaries(sorted(pending))
                pending -= {rid for rid, s in states.items() if s.state == "FINISHED"}
                if pending:
                    time.sleep(0.02)
            finished = time.perf_counter() - t0
            if errors or pending:
                raise RuntimeError(f"{len(errors)} callbacks refused (e.g. {errors[:1]}), "
                                   f"{len(pending)} runs not FINISHED")
            r.samples.append({"wall_s": finished, "callbacks_s": sent, "callbacks_per_s": count / sent})
        r.extra.update(rps=r.figure("callbacks_per_s"), callbacks=count,
                       all_finished_median_s=r.figure("wall_s"),
                       callbacks_per_s_runs=[round(s["callbacks_per_s"]) for s in r.samples])
        if (r.figure("wall_s") or 99) > 10:
            r.extra["finish_miss"] = True
        return r

    # -- periodic tasks ----------------------------------------------------------------------
    def periodic(self, schedulers: int) -> Result:
        name = "periodic_10000_" + ("one" if schedulers == 1 else "two")
        count = 1000 if self.quick else 10_000
        r = Result(name, f"{count:,} periodic tasks due in the same minute, {schedulers} scheduler(s): delay "
                   "from the fire time to the task's start; exactly once",
                   Target("every one fires within 60 s of its minute" + ("; each exactly once" if schedulers > 1
                                                                          else "")))
        from periodic_app.cron import parse_cron_text
        from periodic_app.models import PeriodicTask, PeriodicTaskHistory
        from periodic_app.services import create_periodic_task
        from tasks_app.models import TaskInstance
        from templates_app.models import Template

        template = Template.objects.get(pk=self.chain10)
        tz = self.business.tzinfo
        # The next minute at least 20 s away, so the rows are in place before it.
        now = dt.datetime.now(dt.UTC)
        due = (now + dt.timedelta(seconds=80)).replace(second=0, microsecond=0)
        local = due.astimezone(tz)
        cron = parse_cron_text(f"{local.minute} {local.hour} * * *")
        proto = create_periodic_task(business=self.business, template=template, name="bench periodic",
                                     cron=cron, creator="bench")
        fields = {f.attname: getattr(proto, f.attname) for f in PeriodicTask._meta.concrete_fields
                  if not f.primary_key}
        fields.update(enabled=True, next_run_at=due)
        rows = [PeriodicTask(**{**fields, "name": f"bench p{i}"}) for i in range(count)]
        PeriodicTask.objects.bulk_create(rows, batch_size=1000)
        proto.delete()
        made = list(PeriodicTask.objects.filter(next_run_at=due, enabled=True).values_list("pk", flat=True))
        extra: list[Managed] = []
        try:
            for i in range(schedulers - 1):
                argv = [str(VENV_BIN / "python"), "manage.py", "run_scheduler"]
                extra.append(Managed(f"scheduler-extra{i}", argv, self.cfg.child_env("scheduler"), self.cfg.log_dir))
            time.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()))
            deadline = time.monotonic() + 180
            # Polled by the rows' key range, not by a list of 10,000 keys: that read cost PostgreSQL
            # ~30 ms twice a second, taken from the scheduler the row measures. The range holds only
            # this row's tasks (made together, after every earlier one).
            first_id, last_id = min(made), max(made)
            while time.monotonic() < deadline:
                fired = PeriodicTaskHistory.objects.filter(periodic_task_id__gte=first_id, periodic_task_id__lte=last_id,
                                                           scheduled_at=due).count()
                if fired >= count:
                    break
                time.sleep(0.5)
            done_at = dt.datetime.now(dt.UTC)
        finally:
            for proc in extra:
                proc.stop()
        PeriodicTask.objects.filter(pk__in=made).update(enabled=False)
        hist = list(PeriodicTaskHistory.objects.filter(periodic_task_id__in=made, scheduled_at=due)
                    .values_list("periodic_task_id", "task_id", "success"))
        per_task: dict[int, int] = {}
        for pid, _tid, _ok in hist:
            per_task[pid] = per_task.get(pid, 0) + 1
        tasks_per_periodic: dict[int, int] = {}
        for pid in TaskInstance.objects.filter(periodic_task_id__in=made).values_list("periodic_task_id", flat=True):
            tasks_per_periodic[pid] = tasks_per_periodic.get(pid, 0) + 1
        starts = list(TaskInstance.objects.filter(periodic_task_id__in=made).values_list("start_time", flat=True))
        delays = sorted((s - due).total_seconds() for s in starts if s is not None)
        twice = sum(1 for n in tasks_per_periodic.values() if n > 1)
        never = count - len(tasks_per_periodic)
        failed = sum(1 for _p, _t, ok in hist if not ok)
        r.extra.update(
            periodic_tasks=count, fired=len(per_task), never_fired=never, fired_twice=twice, failed_firings=failed,
            delay_max_s=delays[-1] if delays else None, delay_median_s=statistics.median(delays) if delays else None,
            all_fired_after_s=delays[-1] if delays else (done_at - due).total_seconds(),
            fires_per_s=len(delays) / delays[-1] if delays and delays[-1] > 0 else None,
        )
        ok = never == 0 and twice == 0 and failed == 0 and delays and delays[-1] <= 60
        r.extra["verdict_override"] = "PASS" if ok else "MISS"
        return r


def task_scenarios(cfg: Config, base_url: str, quick: bool, repeat: int, web_pid: int | None, workers: Any,
                   scheduler: Any, wanted: list[str], locust_seconds: int) -> list[Result]:
    try:
        bench = TaskBench(cfg, base_url, quick, repeat, web_pid, workers, scheduler, locust_seconds)
    except Exception as exc:  # noqa: BLE001
        return [Result(n, "", Target(""), error=f"setup: {type(exc).__name__}: {exc}") for n in wanted]
    table: dict[str, Callable[[], Result]] = {
        "task_start_10": bench.start_10,
        "task_create_10": bench.create_10,
        "task_create_and_start_10": bench.create_and_start_10,
        "task_chain10_finished": bench.chain10_finished,
        "task_exclusive_100": bench.exclusive_100,
        "task_concurrent_50x10": bench.concurrent_50x10,
        "task_locust_loop": bench.locust_loop,
        "task_callbacks_1000": bench.callbacks_1000,
        "periodic_10000_one": lambda: bench.periodic(1),
        "periodic_10000_two": lambda: bench.periodic(2),
    }
    results = []
    for name in wanted:
        t0 = time.time()
        results.append(_guard(name, "", "", table[name]))
        print(f"[bench {time.strftime('%H:%M:%S')}]   {name} took {time.time() - t0:.1f}s", flush=True)
    return results
