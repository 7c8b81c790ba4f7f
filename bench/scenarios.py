"""The engine scenarios: each one runs trees through `run_pipeline` and measures start to FINISHED."""
from __future__ import annotations

import copy
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import sql_count, trees
from .engine_probe import Unavailable, engine_api, require_components
from .measure import Counters, RunFailed, Waiter


@dataclass
class Target:
    """What the issue asks for; `check` says whether a result meets it."""

    text: str
    nodes_per_s: float | None = None
    sql_per_node: float | None = None
    median_ms: float | None = None
    growth_pct: float | None = None
    rps: float | None = None


@dataclass
class Result:
    name: str
    what: str
    target: Target
    skipped: str | None = None
    error: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    sql_text: Counter[str] = field(default_factory=Counter)
    sql_micros: Counter[str] = field(default_factory=Counter)  # client-side time per statement shape
    detail_nodes: int = 0  # nodes whose statements sql_text holds (the per-node divisor)

    # -- aggregate figures -------------------------------------------------------
    def walls(self) -> list[float]:
        return [s["wall_s"] for s in self.samples if "wall_s" in s]

    def figure(self, key: str) -> float | None:
        values = [s[key] for s in self.samples if s.get(key) is not None]
        return statistics.median(values) if values else None

    def summary(self) -> dict[str, Any]:
        walls = self.walls()
        out: dict[str, Any] = {"name": self.name, "what": self.what, "target": self.target.text,
                               "skipped": self.skipped, "error": self.error, "samples": len(self.samples)}
        if walls:
            out.update(wall_min_ms=min(walls) * 1e3, wall_median_ms=statistics.median(walls) * 1e3,
                       wall_max_ms=max(walls) * 1e3)
            nodes = self.samples[0].get("nodes")
            if nodes:
                out["nodes"] = nodes
                out["nodes_per_s"] = nodes / statistics.median(walls)
        for key in ("sql_per_node", "msgs_per_node", "driver_sql_per_node"):
            value = self.figure(key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        out["verdict"] = self.verdict(out)
        return out

    def verdict(self, out: dict[str, Any]) -> str:
        if self.skipped:
            return "skipped"
        if self.error:
            return "error"
        if out.get("verdict_override"):
            return str(out["verdict_override"])
        t = self.target
        checks: list[bool] = []
        if t.nodes_per_s is not None:
            checks.append(out.get("nodes_per_s", 0) >= t.nodes_per_s)
        if t.sql_per_node is not None:
            checks.append(out.get("sql_per_node", float("inf")) <= t.sql_per_node)
        if t.median_ms is not None:
            checks.append(out.get("median_ms", out.get("wall_median_ms", float("inf"))) <= t.median_ms)
        if t.growth_pct is not None:
            checks.append(abs(out.get("growth_pct", float("inf"))) <= t.growth_pct)
        if t.rps is not None:
            checks.append(out.get("rps", 0) >= t.rps)
        # A row with a second condition (p99, a deadline) says it missed it with a flag.
        checks += [False for flag in ("p99_miss", "finish_miss") if out.get(flag)]
        if not checks:
            return "-"
        return "PASS" if all(checks) else "MISS"


@dataclass
class Env:
    """What every scenario gets from run_all."""

    counters: Counters
    waiter: Waiter | None
    api: Any
    repeat: int
    quick: bool
    workers: Any  # harness.Workers
    timeout: float = 300.0


# Set by run_all in --profile mode: the driver's share (starting runs) is profiled too.
DRIVER_PROFILE: Any = None


def start_run(api: Any, tree: dict[str, Any]) -> tuple[str, float, dict[str, Any]]:
    """run_pipeline in its own committed transaction; return run id, wall start, driver SQL tally."""
    from django.db import transaction

    t0 = time.time()
    with sql_count.count_here() as box, transaction.atomic():
        run_id = api.run_pipeline(tree)
    return run_id, t0, box


def _start_all(api: Any, batch: list[dict[str, Any]], starters: int) -> list[tuple[str, float, dict[str, Any]]]:
    """Start every tree: one after the other, or from `starters` threads (concurrent API callers)."""
    if starters <= 1:
        if DRIVER_PROFILE is not None:
            DRIVER_PROFILE.enable()
        try:
            return [start_run(api, tree) for tree in batch]
        finally:
            if DRIVER_PROFILE is not None:
                DRIVER_PROFILE.disable()
    import threading

    from django.db import connection

    chunks = [batch[i::starters] for i in range(starters)]
    out: list[list[tuple[str, float, dict[str, Any]]]] = [[] for _ in chunks]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            out[i] = [start_run(api, tree) for tree in chunks[i]]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(chunks))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return [item for chunk in out for item in chunk]


def measure_runs(env: Env, make_trees: Callable[[], list[dict[str, Any]]], starters: int = 1) -> dict[str, Any]:
    """Start the trees, wait for all; one sample (first start to last finish)."""
    batch = make_trees()  # built (and deep-copied) before the clock starts
    nodes = sum(trees.node_count(t) for t in batch)
    env.counters.reset()
    starts: list[float] = []
    run_ids: list[str] = []
    driver_sql = 0
    driver_texts: Counter[str] = Counter()
    driver_micros: Counter[str] = Counter()
    for run_id, t0, box in _start_all(env.api, batch, starters):
        run_ids.append(run_id)
        starts.append(t0)
        driver_sql += box["sql"]
        driver_texts.update(box["texts"])
        driver_micros.update(box["micros"])
    started_all = time.time()
    assert env.waiter is not None
    finishes = env.waiter.wait(run_ids, env.timeout)
    env.counters.settle()
    totals = env.counters.read()
    wall = max(finishes.values()) - min(starts)
    totals.sql_text.update(driver_texts)
    totals.sql_micros.update(driver_micros)
    return {
        "wall_s": wall, "nodes": nodes, "runs": len(run_ids),
        "start_phase_s": started_all - min(starts),
        "sql_per_node": (totals.sql + driver_sql) / nodes,
        "driver_sql_per_node": driver_sql / nodes,
        "msgs_per_node": totals.tasks / nodes,
        "task_names": totals.task_names,
        "_sql_text": totals.sql_text,
        "_sql_micros": totals.sql_micros,
        "latencies": [finishes[r] - s for r, s in zip(run_ids, starts, strict=True)],
    }


def _repeat(env: Env, result: Result, make_trees: Callable[[], list[dict[str, Any]]], starters: int = 1) -> None:
    for _ in range(env.repeat):
        sample = measure_runs(env, make_trees, starters)
        result.sql_text.update(sample.pop("_sql_text"))
        result.sql_micros.update(sample.pop("_sql_micros"))
        result.detail_nodes += sample["nodes"]
        sample.pop("latencies")
        result.samples.append(sample)


def guarded(fn: Callable[[Env, Result], None], env: Env, result: Result) -> Result:
    """Run a scenario; a missing piece becomes 'skipped', a failing run an error, never a crash."""
    try:
        if env.waiter is None:
            raise Unavailable("the engine is not available")
        fn(env, result)
    except Unavailable as exc:
        result.skipped = str(exc)
    except RunFailed as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
        result.error = f"{type(exc).__name__}: {exc}"
    return result


# -- scenarios ------------------------------------------------------------------------

def linear_noop(env: Env) -> Result:
    n = 200 if env.quick else 1000
    r = Result("linear_noop", f"linear chain of {n} noop nodes, start to FINISHED",
               Target(">= 20,000 nodes/s (issue 11; earlier 5,000), <= 2 SQL/node", nodes_per_s=20000, sql_per_node=2))

    def body(env: Env, r: Result) -> None:
        require_components("noop")
        base = trees.linear_chain(n)
        _repeat(env, r, lambda: [copy.deepcopy(base)])

    return guarded(body, env, r)


def linear_poll(env: Env) -> Result:
    n = 100
    r = Result("linear_poll", f"linear chain of {n} bench_poll nodes (each polls once)",
               Target(">= 300 nodes/s, <= 8 SQL/node", nodes_per_s=300, sql_per_node=8))

    def body(env: Env, r: Result) -> None:
        require_components("bench_poll")
        base = trees.linear_chain(n, code="bench_poll")
        _repeat(env, r, lambda: [copy.deepcopy(base)])

    return guarded(body, env, r)


def parallel_100(env: Env) -> Result:
    r = Result("parallel_100", "parallel gateway, 100 branches of one noop node",
               Target(">= 2,000 nodes/s", nodes_per_s=2000))

    def body(env: Env, r: Result) -> None:
        require_components("noop")
        base = trees.parallel(100)
        _repeat(env, r, lambda: [copy.deepcopy(base)])

    return guarded(body, env, r)


def _concurrent(env: Env, name: str, starters: int) -> Result:
    who = "one caller" if starters == 1 else f"{starters} concurrent callers"
    r = Result(name, f"50 concurrent runs of 10 noop nodes, started by {who} (first start to last finish)",
               Target(">= 3,000 nodes/s", nodes_per_s=3000))

    def body(env: Env, r: Result) -> None:
        require_components("noop")
        base = trees.linear_chain(10)
        _repeat(env, r, lambda: [copy.deepcopy(base) for _ in range(50)], starters)
        # How much of the wall time is the callers' run_pipeline calls themselves.
        r.extra["start_phase_median_ms"] = r.figure("start_phase_s") * 1e3

    return guarded(body, env, r)


def concurrent_50x10(env: Env) -> Result:
    return _concurrent(env, "concurrent_50x10", 1)


def concurrent_50x10_4callers(env: Env) -> Result:
    return _concurrent(env, "concurrent_50x10_4callers", 4)


def exclusive_latency(env: Env) -> Result:
    runs = 30 if env.quick else 100
    r = Result("exclusive_latency", f"{runs} small runs with one exclusive gateway, one after another",
               Target("median <= 15 ms start to finish", median_ms=15))

    def body(env: Env, r: Result) -> None:
        require_components("noop")
        base = trees.exclusive_small()
        latencies: list[float] = []
        for _ in range(env.repeat):
            env.counters.reset()
            sql = tasks = driver = nodes = 0
            for _ in range(runs):
                sample = measure_runs(env, lambda: [copy.deepcopy(base)])
                r.sql_text.update(sample.pop("_sql_text"))
                r.sql_micros.update(sample.pop("_sql_micros"))
                r.detail_nodes += sample["nodes"]
                latencies.extend(sample["latencies"])
                nodes += sample["nodes"]
                # measure_runs resets the counters per run: add up per-run figures.
                sql += sample["sql_per_node"] * sample["nodes"]
                driver += sample["driver_sql_per_node"] * sample["nodes"]
                tasks += sample["msgs_per_node"] * sample["nodes"]
            r.samples.append({"sql_per_node": sql / nodes, "msgs_per_node": tasks / nodes,
                              "driver_sql_per_node": driver / nodes})
        lat_ms = sorted(x * 1e3 for x in latencies)
        r.extra.update(
            runs=len(lat_ms), median_ms=statistics.median(lat_ms), min_ms=lat_ms[0], max_ms=lat_ms[-1],
            p95_ms=lat_ms[int(len(lat_ms) * 0.95) - 1],
            nodes_per_run=trees.node_count(base),
        )

    return guarded(body, env, r)


def memory_soak(env: Env) -> Result:
    total = 2000 if env.quick else 10_000
    batch = 20
    r = Result("memory_soak", f"{total:,} small runs in a row (batches of {batch}), worker RSS",
               Target("worker memory flat within 10 %", growth_pct=10))

    def body(env: Env, r: Result) -> None:
        require_components("noop")
        base = trees.exclusive_small()
        rss: dict[str, dict[int, int]] = {}
        done = 0
        t_start = time.time()
        while done < total:
            measure_runs(env, lambda: [copy.deepcopy(base) for _ in range(batch)])
            done += batch
            if done == 200:
                rss["at_200"] = env.workers.rss_kib()   # after warm-up: caches, connections, imports
            if done == 1000:
                rss["at_1000"] = env.workers.rss_kib()
        rss["at_end"] = env.workers.rss_kib()
        elapsed = time.time() - t_start
        at_1k = sum(rss["at_1000"].values())
        at_end = sum(rss["at_end"].values())
        r.extra.update(
            runs=done, elapsed_s=elapsed, runs_per_s=done / elapsed,
            rss_at_200_mib=sum(rss["at_200"].values()) / 1024,
            rss_at_1000_mib=at_1k / 1024, rss_at_end_mib=at_end / 1024,
            growth_pct=(at_end - at_1k) / at_1k * 100,
            rss_per_process_kib={k: {str(p): v for p, v in d.items()} for k, d in rss.items()},
        )

    return guarded(body, env, r)


ENGINE_SCENARIOS: dict[str, Callable[[Env], Result]] = {
    "linear_noop": linear_noop,
    "linear_poll": linear_poll,
    "parallel_100": parallel_100,
    "concurrent_50x10": concurrent_50x10,
    "concurrent_50x10_4callers": concurrent_50x10_4callers,
    "exclusive_latency": exclusive_latency,
    "memory_soak": memory_soak,
}


def warm_up(env: Env) -> None:
    """A few runs before timing: imports, connections and caches in every worker child.

    Small trees alone no longer reach the workers (their starter walks them to the end), so
    the warm-up also runs a chain longer than the start's walk budget (an advance for a
    worker) and a few polling nodes (the component path). Without them, the first timed runs
    of linear_noop met worker children that had never taken a step."""
    if env.waiter is None:
        return
    try:
        require_components("noop", "bench_poll")
    except Unavailable:
        return
    for _ in range(3):
        measure_runs(env, lambda: [trees.exclusive_small() for _ in range(8)] + [trees.linear_chain(1000)]
                     + [trees.linear_chain(2, code="bench_poll", prefix=f"warm{i}") for i in range(4)])


def engine_env(counters_client: Any, repeat: int, quick: bool, workers: Any) -> tuple[Env, str | None]:
    """Build the scenario environment; the second value says why the engine is unusable, if it is."""
    try:
        api = engine_api()
    except Unavailable as exc:
        return Env(Counters(counters_client), None, None, repeat, quick, workers), str(exc)
    have_signal = sql_count.connect_run_finished()
    waiter = Waiter(counters_client, api, have_signal)
    return Env(Counters(counters_client), waiter, api, repeat, quick, workers), None
