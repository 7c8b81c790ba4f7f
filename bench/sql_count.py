"""Per-process counters for the benchmark: SQL statements, Celery tasks, finished runs.

Workers import this module with `celery worker -I bench.sql_count`. It is inert
unless SOPS_BENCH_COUNTERS_URL names a Redis database; then it says when the worker is
ready and, unless SOPS_BENCH_COUNT=0, it

- wraps every new database connection's `execute` to count statements
  (an `executemany` counts once per parameter set, as it costs one round trip
  each);
- counts each Celery task a worker runs (task_prerun / task_postrun);
- flushes the process's counts to Redis once per task (one pipelined round
  trip in task_postrun), not once per statement, so measuring barely adds load;
- pushes `{run_id, state, t}` onto a Redis list when the engine sends
  `run_finished`, so the driver learns that a run ended without polling the
  database (polling would add the very load being measured).

With SOPS_BENCH_SQL_DETAIL=1 each statement's text (with IN/VALUES lists
collapsed) is tallied too, which is how the report names the statements a node
costs. With SOPS_BENCH_PROFILE_DIR set, every task runs under cProfile and the
profile of each scenario (named by the driver in a Redis key) is written to
<dir>/<scenario>-<pid>.prof.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ENV_URL = "SOPS_BENCH_COUNTERS_URL"
ENV_DETAIL = "SOPS_BENCH_SQL_DETAIL"
ENV_PROFILE = "SOPS_BENCH_PROFILE_DIR"
# "0": the worker only says it is ready. The task rows run on workers like this: they are timed
# from outside, and the counters' three Redis round trips per Celery task (INCR, the flush, the
# run_finished RPUSH) cost a tenth of a small task's worker CPU, which production workers do not pay.
ENV_COUNT = "SOPS_BENCH_COUNT"
PREFIX = "sopsbench:"
KEY_SQL = PREFIX + "sql"
KEY_TASKS_STARTED = PREFIX + "tasks_started"
KEY_TASKS_DONE = PREFIX + "tasks_done"
KEY_TASK_NAMES = PREFIX + "task_names"
KEY_SQL_TEXT = PREFIX + "sql_text"
KEY_SQL_MICROS = PREFIX + "sql_micros"
KEY_DONE = PREFIX + "done"
KEY_READY = PREFIX + "ready:"
KEY_PROFILE_TAG = PREFIX + "profile_tag"

_IN_LIST = re.compile(r"IN \((?:%s, )*%s\)")
_SAVEPOINT = re.compile(r'(SAVEPOINT) "[^"]+"')
_VALUES_LIST = re.compile(r"VALUES (\([^()]*\))(?:, \([^()]*\))+")
_SPACES = re.compile(r"\s+")


def normalise(sql: str) -> str:
    """One label per statement shape: IN lists and multi-row VALUES collapse; a prepared
    statement's EXECUTE is labelled with the SQL it runs."""
    from pipeline_engine.runtime.prepared import statement_of  # late: loaded before Django is set up

    sql = _SPACES.sub(" ", statement_of(sql))
    sql = _IN_LIST.sub("IN (…)", sql)
    sql = _SAVEPOINT.sub(r"\1 …", sql)
    sql = _VALUES_LIST.sub(r"VALUES \1, …", sql)
    return sql[:240]


class _Tally:
    """This process's counts since the last flush. A lock: engine code may use threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sql = 0
        self.texts: Counter[str] = Counter()
        self.micros: Counter[str] = Counter()  # client-side time per statement shape (detail mode)

    def add(self, sql: str, n: int, detail: bool, micros: int = 0) -> None:
        with self.lock:
            self.sql += n
            if detail:
                key = normalise(sql)
                self.texts[key] += n
                self.micros[key] += micros

    def take(self) -> tuple[int, Counter[str], Counter[str]]:
        with self.lock:
            sql, texts, micros = self.sql, self.texts, self.micros
            self.sql, self.texts, self.micros = 0, Counter(), Counter()
            return sql, texts, micros


_tally = _Tally()
_client_cache: dict[int, Any] = {}


def redis_client() -> Any:
    """A Redis client for this process (a fresh one after fork: sockets must not be shared)."""
    pid = os.getpid()
    client = _client_cache.get(pid)
    if client is None:
        import redis

        client = redis.Redis.from_url(os.environ[ENV_URL])
        _client_cache.clear()
        _client_cache[pid] = client
    return client


def _detail() -> bool:
    return os.environ.get(ENV_DETAIL, "") in {"1", "true", "yes"}


def _counting_wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool,
                      context: dict[str, Any]) -> Any:
    if many:
        # Materialise so we can count it and still pass it on.
        params = list(params)
        n = len(params)
    else:
        n = 1
    if not _detail():
        _tally.add(sql, n, False)
        return execute(sql, params, many, context)
    t0 = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        _tally.add(sql, n, True, int((time.perf_counter() - t0) * 1e6))


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    # At the bottom of the stack, not the top: a connection opened inside another wrapper's
    # block (db_retry wraps each step) would otherwise lose this wrapper when the block's
    # exit pops the top one, which left the workers' statements uncounted.
    if _counting_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _counting_wrapper)


def flush(tasks_done: int = 0, task_name: str | None = None) -> None:
    """Add this process's counts to the Redis totals (one round trip)."""
    sql, texts, micros = _tally.take()
    pipe = redis_client().pipeline(transaction=False)
    if sql:
        pipe.incrby(KEY_SQL, sql)
    for text, n in texts.items():
        pipe.hincrby(KEY_SQL_TEXT, text, n)
        pipe.hincrby(KEY_SQL_MICROS, text, micros[text])
    if tasks_done:
        pipe.incrby(KEY_TASKS_DONE, tasks_done)
    if task_name:
        pipe.hincrby(KEY_TASK_NAMES, task_name, 1)
    pipe.execute()


class _Profiler:
    """cProfile around every task of this process, one file per scenario (profile mode only)."""

    def __init__(self) -> None:
        self.tag = ""
        self.prof: Any = None

    def start(self) -> None:
        import cProfile

        tag = (redis_client().get(KEY_PROFILE_TAG) or b"").decode() or "untagged"
        if tag != self.tag or self.prof is None:
            self.tag, self.prof = tag, cProfile.Profile()
        self.prof.enable()

    def stop(self) -> None:
        if self.prof is None:
            return
        self.prof.disable()
        # Written after every task: a prefork child may be killed without a shutdown hook.
        self.prof.dump_stats(os.path.join(os.environ[ENV_PROFILE], f"{self.tag}-{os.getpid()}.prof"))


_profiler = _Profiler()


def _on_task_prerun(sender: Any = None, task: Any = None, **kwargs: Any) -> None:
    redis_client().incr(KEY_TASKS_STARTED)
    if os.environ.get(ENV_PROFILE):
        _profiler.start()


def _on_task_postrun(sender: Any = None, task: Any = None, **kwargs: Any) -> None:
    if os.environ.get(ENV_PROFILE):
        _profiler.stop()
    flush(tasks_done=1, task_name=getattr(task, "name", None) or str(sender))


def _on_run_finished(sender: Any = None, run_id: str = "", state: str = "", **kwargs: Any) -> None:
    redis_client().rpush(KEY_DONE, json.dumps({"run_id": str(run_id), "state": str(state),
                                               "t": time.time(), "pid": os.getpid()}))


def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", None) or str(os.getpid())
    redis_client().set(KEY_READY + hostname, str(os.getpid()))


def connect_run_finished() -> bool:
    """Listen for the engine's run_finished signal; False if the engine has none (yet)."""
    try:
        from pipeline_engine.signals import run_finished
    except ImportError:
        return False
    run_finished.connect(_on_run_finished, dispatch_uid="bench.sql_count.run_finished")
    return True


def install_worker_hooks() -> None:
    """Everything a worker process needs; called on import when the env asks for it."""
    from celery import signals as celery_signals
    from django.db.backends.signals import connection_created

    celery_signals.worker_ready.connect(_on_worker_ready, weak=False)
    if os.environ.get(ENV_COUNT, "1") == "0":
        return
    connection_created.connect(_on_connection_created, dispatch_uid="bench.sql_count.connection")
    celery_signals.task_prerun.connect(_on_task_prerun, weak=False)
    celery_signals.task_postrun.connect(_on_task_postrun, weak=False)
    # The engine module may import models; defer until Django is set up in the worker.
    celery_signals.worker_init.connect(lambda **kw: connect_run_finished(), weak=False)
    celery_signals.worker_process_init.connect(lambda **kw: connect_run_finished(), weak=False)


@contextmanager
def count_here() -> Iterator[dict[str, Any]]:
    """Count the statements this thread's default connection runs inside the block (driver side)."""
    from django.db import connection

    box: dict[str, Any] = {"sql": 0, "texts": Counter(), "micros": Counter()}
    detail = _detail()

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool,
                context: dict[str, Any]) -> Any:
        if many:
            params = list(params)
            box["sql"] += len(params)
        else:
            box["sql"] += 1
        if not detail:
            return execute(sql, params, many, context)
        key = "driver: " + normalise(sql)
        box["texts"][key] += len(params) if many else 1
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            box["micros"][key] += int((time.perf_counter() - t0) * 1e6)

    with connection.execute_wrapper(wrapper):
        yield box


if os.environ.get(ENV_URL) and os.environ.get("SOPS_BENCH_ROLE", "worker") == "worker":
    install_worker_hooks()
