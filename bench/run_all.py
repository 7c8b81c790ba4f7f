"""Run the benchmarks: `make bench` or `.venv/bin/python bench/run_all.py [--quick] [--only NAME]`.

Starts its own processes (fresh PostgreSQL database, Redis databases of its
own, 2 Celery worker processes, gunicorn -w 2 for HTTP), runs each scenario
several times, prints the machine and a markdown table, and writes the figures
to bench/results/<timestamp>.json. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script (`python bench/run_all.py`): make `bench` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import CLIENT_KINDS, RESULTS, Config  # noqa: E402

ENGINE_NAMES = ["linear_noop", "linear_poll", "parallel_100", "concurrent_50x10", "concurrent_50x10_4callers",
                "exclusive_latency", "memory_soak"]
HTTP_NAMES = ["http_status_1000", "http_node_detail_1000", "http_create_task_1000", "http_status_small_rps"]
# The fixed cost of a task through the HTTP API, callbacks and periodic tasks (bench/task_scenarios.py).
TASK_NAMES = ["task_start_10", "task_create_10", "task_create_and_start_10", "task_chain10_finished",
              "task_exclusive_100", "task_concurrent_50x10", "task_locust_loop", "task_callbacks_1000",
              "periodic_10000_one", "periodic_10000_two"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="samples per scenario (default 5)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, 2 samples, short soak and locust run")
    p.add_argument("--only", default="", help="comma-separated scenario names or prefixes (e.g. linear,http)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--sql-detail", action="store_true", help="also tally statement texts and print the top ones")
    p.add_argument("--profile", action="store_true",
                   help="cProfile every worker task and the driver's run starts; top functions per scenario")
    p.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")
    p.add_argument("--db-name", default=os.environ.get("BENCH_DB_NAME", "sops_bench"))
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/"))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"))
    p.add_argument("--broker-db", type=int, default=9)
    p.add_argument("--counters-db", type=int, default=10)
    p.add_argument("--http-port", type=int, default=8765)
    p.add_argument("--worker-procs", type=int, default=1, help="Celery worker masters (default 1)")
    p.add_argument("--concurrency", type=int, default=2, help="prefork children per worker (default 2)")
    p.add_argument("--locust-seconds", type=int, default=0,
                   help="duration of the create_and_start_task locust loop (default 60, 15 with --quick)")
    p.add_argument("--gunicorn-args", default="",
                   help='extra gunicorn options for a comparison, e.g. "-k gthread --threads 4"')
    p.add_argument("--client", default=CLIENT_KINDS[0], choices=CLIENT_KINDS,
                   help=f"the drivers' HTTP client for the latency rows (default {CLIENT_KINDS[0]}; requests is "
                        "what they used before 2026-12-02, at ~0.5-0.8 ms more per request in the driver)")
    p.add_argument("--json", type=Path, default=None, help="where to write the JSON (default bench/results/)")
    return p.parse_args(argv)


def selected(only: str) -> list[str]:
    names = ENGINE_NAMES + HTTP_NAMES + TASK_NAMES
    if not only:
        return names
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    picked = [n for n in names if any(n == w or n.startswith(w) for w in wanted)]
    if not picked:
        raise SystemExit(f"--only {only!r} matches none of: {', '.join(names)}")
    return picked


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def headline(s: dict[str, Any]) -> str:
    """The one figure the target is about."""
    if "periodic_tasks" in s:
        return (f"{s['fired']:,}/{s['periodic_tasks']:,} fired, last after {_fmt(s.get('all_fired_after_s'))} s "
                f"(median {_fmt(s.get('delay_median_s'))} s), twice {s['fired_twice']}, failed {s['failed_firings']}")
    if "callbacks" in s:
        return (f"{s['rps']:,.0f} callbacks/s (runs {s.get('callbacks_per_s_runs')}), all FINISHED after "
                f"{s['all_finished_median_s']:.2f} s (median)")
    if "completed" in s:
        cpu = s.get("cpu_ms_per_task") or {}
        return (f"{s['rps']:,.1f} tasks/s ({s['completed']:,} in {s['seconds']} s), request→FINISHED median "
                f"{_fmt(s.get('median_ms'), 0)} ms p99 {_fmt(s.get('p99_ms'), 0)} ms, {s['failures']} errors; "
                f"CPU ms/task " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
    driver = f"; driver {s['client_cpu_ms']:.2f} ms CPU/request" if s.get("client_cpu_ms") else ""
    if "run_medians_ms" in s:
        return (f"median {s['median_ms']:.2f} ms (runs {'/'.join(f'{m:.2f}' for m in s['run_medians_ms'])}; "
                f"p95 {s['p95_ms']:.1f}, p99 {s['p99_ms']:.1f}{driver})")
    if "start_phase_median_ms" in s and "wall_median_ms" in s and "nodes_per_s" not in s:
        return f"{s['wall_median_ms'] / 1e3:.3f} s in all, of which starts {s['start_phase_median_ms'] / 1e3:.3f} s"
    if "growth_pct" in s:
        return f"{s['growth_pct']:+.1f} % RSS ({s['rss_at_1000_mib']:.0f}→{s['rss_at_end_mib']:.0f} MiB)"
    if "rps" in s:
        extra = ""
        if s.get("server_cpu_ms_per_request"):
            extra = (f"; server {s['server_cpu_ms_per_request']:.1f} ms CPU/req, locust "
                     f"{s['locust_cpu_ms_per_request']:.1f}")
        return f"{s['rps']:,.0f} req/s (median {s['median_ms']:.0f} ms{extra})"
    if "median_ms" in s:
        return f"median {s['median_ms']:.1f} ms (p95 {s['p95_ms']:.1f}{driver})"
    if "nodes_per_s" in s:
        return f"{s['nodes_per_s']:,.0f} nodes/s"
    return "–"


def markdown(machine: dict[str, Any], summaries: list[dict[str, Any]]) -> str:
    lines = [
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu')} × {machine.get('cores')} cores, RAM {machine.get('ram_gib')} GiB,"
        f" kernel {machine.get('kernel')}",
        f"- Python {machine.get('python')}, PostgreSQL {machine.get('postgresql')},"
        f" Redis {machine.get('redis')}, git {machine.get('git')}",
        f"- {machine.get('setup')}",
        f"- load average (1/5/15 min) at start {' '.join(machine.get('loadavg_at_start') or [])}, "
        f"at end {' '.join(machine.get('loadavg_at_end') or [])} (other work on the machine inflates figures)",
        f"- reference speed: a 1,000,000-step Python loop {machine.get('python_reference_ms')} ms at start, "
        f"{machine.get('python_reference_ms_at_end', '–')} ms at end (best of 5), "
        f"PostgreSQL `SELECT 1` round trip {machine.get('postgres_round_trip_us')} µs (median); figures from a "
        "machine with another reference scale by about its ratio",
        "",
        "## Results",
        "",
        "| scenario | target | result | SQL/node | msgs/node | wall median (min–max) ms | samples | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        if s.get("skipped"):
            lines.append(f"| {s['name']} | {s['target']} | skipped: {s['skipped']} | | | | | skipped |")
            continue
        if s.get("error"):
            lines.append(f"| {s['name']} | {s['target']} | error: {s['error'][:160]} | | | | | error |")
            continue
        wall = "–"
        if "wall_median_ms" in s:
            wall = f"{s['wall_median_ms']:,.1f} ({s['wall_min_ms']:,.1f}–{s['wall_max_ms']:,.1f})"
        elif "min_ms" in s:
            wall = f"{s['median_ms']:,.1f} ({s['min_ms']:,.1f}–{s['max_ms']:,.1f})"
        samples = s.get("runs") or s.get("requests") or s.get("samples")
        lines.append(f"| {s['name']} | {s['target']} | {headline(s)} | {_fmt(s.get('sql_per_node'), 2)} | "
                     f"{_fmt(s.get('msgs_per_node'), 2)} | {wall} | {samples} | {s['verdict']} |")
    cpu_rows = [s for s in summaries if s.get("cpu_ms_per_node")]
    if cpu_rows:
        lines += ["", "## CPU per node (ms; driver = the caller of run_pipeline, PostgreSQL = our backends)", "",
                  "| scenario | driver | workers | PostgreSQL | total |", "|---|---|---|---|---|"]
        for s in cpu_rows:
            c = s["cpu_ms_per_node"]
            lines.append(f"| {s['name']} | {c['driver']:.3f} | {c['workers']:.3f} | {c['postgres']:.3f} | "
                         f"{sum(c.values()):.3f} |")
    return "\n".join(lines)


def sql_detail(results: list[Any]) -> str:
    out = ["", "## Statements per node (top 15 per scenario)", ""]
    for r in results:
        if not r.sql_text:
            continue
        nodes = r.detail_nodes or 1
        out.append(f"### {r.name}")
        out.append("")
        out.append("| per node | µs each (client side) | µs per node | statement |")
        out.append("|---|---|---|---|")
        for text, n in r.sql_text.most_common(15):
            micros = r.sql_micros.get(text, 0)
            out.append(f"| {n / nodes:.3f} | {micros / n:,.0f} | {micros / nodes:,.0f} | "
                       f"`{text[:200].replace('|', '/')}` |")
        out.append("")
    return "\n".join(out)


def _has_profile(path: Path) -> bool:
    import pstats

    if path.stat().st_size == 0:
        return False
    try:
        pstats.Stats(str(path), stream=io.StringIO())
    except (TypeError, EOFError, ValueError):
        return False
    return True


def profile_summary(directory: Path, names: list[str], top: int = 18) -> str:
    """Top functions by cumulative time per scenario: workers' files merged, the driver apart."""
    import pstats

    out = ["", f"## Profiles (cProfile, cumulative; files in {directory})", ""]
    for name in names:
        for side, pattern in (("workers", f"{name}-[0-9]*.prof"), ("driver", f"{name}-driver.prof")):
            # A process (or a driver that started runs from threads) that ran no profiled code
            # leaves an empty or empty-table file, which pstats refuses.
            files = [f for f in sorted(directory.glob(pattern)) if _has_profile(f)]
            if not files:
                continue
            buf = io.StringIO()
            stats = pstats.Stats(*map(str, files), stream=buf)
            stats.strip_dirs().sort_stats("cumulative").print_stats(top)
            body = buf.getvalue()
            # Keep the table only: pstats prints a header of file names first.
            table = body[body.find("   ncalls"):] if "   ncalls" in body else body
            out += [f"### {name} ({side})", "", "```", table.rstrip(), "```", ""]
    return "\n".join(out)


def stop_on_sigterm() -> None:
    """Make `kill <pid>` (SIGTERM, also what `timeout` sends) unwind like Ctrl-C: main's finally then
    stops this run's gunicorn, workers and scheduler, which would otherwise outlive it, holding its
    port and consuming its queue during the next run."""
    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = selected(args.only)
    if args.list:
        print("\n".join(ENGINE_NAMES + HTTP_NAMES + TASK_NAMES))
        return 0
    repeat = 2 if args.quick and args.repeat == 5 else args.repeat
    cfg = Config(pg_url=args.pg_url, db_name=args.db_name, redis_url=args.redis_url, broker_db=args.broker_db,
                 counters_db=args.counters_db, http_port=args.http_port, worker_procs=args.worker_procs,
                 worker_concurrency=args.concurrency, sql_detail=args.sql_detail,
                 profile=args.profile, gunicorn_args=tuple(shlex.split(args.gunicorn_args)),
                 http_client=args.client)

    if args.profile:
        cfg.profile_dir.mkdir(parents=True, exist_ok=True)
    stop_on_sigterm()
    # The driver is a Django process on the benchmark's own database and broker.
    os.environ.update(cfg.child_env("driver"))
    log(f"fresh database {cfg.db_name}, Redis dbs {cfg.broker_db}/{cfg.counters_db}; logs in {cfg.log_dir}")
    harness.flush_redis(cfg)
    harness.fresh_database(cfg)
    import django

    django.setup()
    import redis

    from bench import scenarios as sc

    machine = harness.machine_info(cfg)
    machine["setup"] = (f"{cfg.worker_procs} Celery worker(s) × prefork -c {cfg.worker_concurrency}, "
                        f"gunicorn -w {cfg.gunicorn_workers}{''.join(' ' + a for a in cfg.gunicorn_args)}, PostgreSQL and Redis on loopback, "
                        f"repeat {repeat}{', quick' if args.quick else ''}, driver's HTTP client {cfg.http_client}")
    log("machine: " + json.dumps(machine))

    counters_client = redis.Redis.from_url(cfg.counters_url)
    workers = harness.Workers(cfg)
    scheduler = harness.Scheduler(cfg)
    web = harness.Gunicorn(cfg)
    results: list[Any] = []
    try:
        env, why = sc.engine_env(counters_client, repeat, args.quick, workers)
        need_workers = bool(names)
        if need_workers:
            try:
                workers.start()
                if scheduler.start():
                    log("scheduler (run_scheduler) started")
                log(f"workers up: masters {[p.pid for p in workers.procs]}, children {workers.child_pids()}")
            except Exception as exc:  # noqa: BLE001
                why = why or f"workers did not start: {exc}"
                env.waiter = None
        if why:
            log(f"engine scenarios will be skipped: {why}")
        else:
            try:
                sc.warm_up(env)
            except Exception as exc:  # noqa: BLE001
                why = f"warm-up run failed: {type(exc).__name__}: {exc}"
                log(why)
                env.waiter = None
        for name in names:
            if name not in ENGINE_NAMES:
                continue
            log(f"scenario {name} ...")
            if args.profile:
                import cProfile

                counters_client.set("sopsbench:profile_tag", name)
                sc.DRIVER_PROFILE = cProfile.Profile()
            meter = harness.CpuMeter(workers)
            meter.start()
            result = sc.ENGINE_SCENARIOS[name](env)
            cpu = meter.stop()
            if result.detail_nodes and not (why or result.skipped or result.error):
                result.extra["cpu_ms_per_node"] = {role: round(sec * 1e3 / result.detail_nodes, 4)
                                                   for role, sec in cpu.items()}
            if sc.DRIVER_PROFILE is not None:
                sc.DRIVER_PROFILE.dump_stats(str(cfg.profile_dir / f"{name}-driver.prof"))
                sc.DRIVER_PROFILE = None
            if why:
                result.skipped, result.error = why, None
            log(f"  {name}: {json.dumps(_brief(result.summary()))}")
            results.append(result)

        http_wanted = [n for n in names if n in HTTP_NAMES]
        if http_wanted:
            from bench import http_scenarios

            if why:
                http_results = [sc.Result(n, "", sc.Target(""), skipped=why) for n in HTTP_NAMES]
            else:
                log("HTTP scenarios: starting gunicorn ...")
                try:
                    web.start()
                    http_results = http_scenarios.http_scenarios(cfg, web.base_url, args.quick,
                                                                 web.proc.pid if web.proc else None)
                except Exception as exc:  # noqa: BLE001
                    http_results = [sc.Result(n, "", sc.Target(""), error=f"{type(exc).__name__}: {exc}")
                                    for n in HTTP_NAMES]
            for r in http_results:
                if r.name in http_wanted:
                    log(f"  {r.name}: {json.dumps(_brief(r.summary()))}")
                    results.append(r)

        task_wanted = [n for n in names if n in TASK_NAMES]
        if task_wanted:
            from bench import task_scenarios

            if why:
                task_results = [sc.Result(n, "", sc.Target(""), skipped=why) for n in task_wanted]
            else:
                log("task scenarios (HTTP) ...")
                try:
                    if workers.counting and not args.profile:
                        # Timed from outside: on workers as production runs them, without counters.
                        workers.stop()
                        workers.start(counting=False)
                        log(f"workers restarted without counters: children {workers.child_pids()}")
                    if web.proc is None:
                        web.start()
                    seconds = args.locust_seconds or (15 if args.quick else 60)
                    task_results = task_scenarios.task_scenarios(
                        cfg, web.base_url, args.quick, repeat, web.proc.pid if web.proc else None, workers,
                        scheduler, task_wanted, seconds)
                except Exception as exc:  # noqa: BLE001
                    task_results = [sc.Result(n, "", sc.Target(""), error=f"{type(exc).__name__}: {exc}")
                                    for n in task_wanted]
            for r in task_results:
                log(f"  {r.name}: {json.dumps(_brief(r.summary()))}")
                results.append(r)
    finally:
        web.stop()
        scheduler.stop()
        workers.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            harness.drop_database(cfg)

    try:
        machine["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    # Measured again, after the rows: a shared machine's speed drifts within a run (seen here: 38 ms
    # at one start, 70 ms minutes earlier).
    machine["python_reference_ms_at_end"] = round(harness.python_reference_ms(), 1)
    summaries = [r.summary() for r in results]
    report = markdown(machine, summaries)
    if args.sql_detail:
        report += "\n" + sql_detail(results)
    if args.profile:
        report += "\n" + profile_summary(cfg.profile_dir, [r.name for r in results])
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.json or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {"machine": machine, "argv": sys.argv[1:], "results": summaries,
               "samples": {r.name: r.samples for r in results}}
    if args.sql_detail:
        payload["sql_text"] = {r.name: dict(r.sql_text.most_common(40)) for r in results}
    path.write_text(json.dumps(payload, indent=2, default=str))
    log(f"wrote {path}")
    return 0


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keep = ("skipped", "error", "nodes_per_s", "wall_median_ms", "sql_per_node", "msgs_per_node", "median_ms",
            "p95_ms", "rps", "growth_pct", "verdict")
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in summary.items()
            if k in keep and v is not None}


if __name__ == "__main__":
    sys.exit(main())
