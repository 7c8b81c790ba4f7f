"""The engine's entry points in Celery: its tasks, and the worker signals that set up
worker connections and the sweep thread. Every message is fenced: see runner and walker.
"""
from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from django.db import connections
from django.db.utils import load_backend

from pipeline_engine.core import operations
from pipeline_engine.core.walker import Walker
from pipeline_engine.errors import RunNotFound

from . import config, db_retry, dispatch, metrics, reaper, runner
from .dispatch import ADVANCE, RUN_COMPONENT, SWEEP
from .step import step

logger = logging.getLogger("pipeline_engine")

# How many components one task may run back to back before handing the rest to
# the broker, so one long chain cannot monopolise a worker process.
MAX_LOCAL_CHAIN = 50


def _queue_wait(task: str, sent_at: float | None) -> None:
    if sent_at:
        metrics.child(metrics.QUEUE_WAIT, task).observe(max(0.0, time.time() - sent_at))


@shared_task(name=ADVANCE, ignore_result=True)
def advance(run_id: str, event: str = "", key: str = "", version: str = "", sent_at: float | None = None) -> None:
    _queue_wait("advance", sent_at)

    def apply(walker: Walker) -> bool | None:
        if event == "timeout":
            return operations.apply_timeout(walker, key, version)
        if event == "auto_retry":
            return operations.apply_auto_retry(walker, key, version)
        return None

    metrics.child(metrics.STEPS, event or "advance").inc()
    dispatch.collect_local_work()
    try:
        db_retry.retry_if_unchanged(lambda: step(run_id, apply), label=f"run={run_id} advance step")
    except RunNotFound:
        logger.warning("run=%s advance for a missing run dropped", run_id)
    finally:
        _run_local_work()


@shared_task(name=RUN_COMPONENT, ignore_result=True)
def run_component(run_id: str, key: str, version: str, schedule_count: int, sent_at: float | None = None,
                  time_zone: str | None = None, executor: str | None = None) -> None:
    _queue_wait("run_component", sent_at)
    dispatch.collect_local_work()
    try:
        runner.run_component(run_id, key, version, schedule_count, time_zone, executor)
    except RunNotFound:
        logger.warning("run=%s component message for a missing run dropped", run_id)
    finally:
        _run_local_work()


def _run_local_work() -> None:
    try:
        for _ in range(MAX_LOCAL_CHAIN):
            work = dispatch.take_local_work()
            if work is None:
                return
            run_id, key, version, schedule_count, time_zone, executor = work
            try:
                runner.run_component(run_id, key, version, schedule_count, time_zone, executor)
            except RunNotFound:
                return
    finally:
        for run_id, key, version, schedule_count, time_zone, executor in dispatch.stop_local_work():
            dispatch.send_component(run_id, key, version, schedule_count, time_zone=time_zone, executor=executor)


@shared_task(name=SWEEP, ignore_result=True)
def sweep() -> None:
    db_retry.retry_if_unchanged(reaper.sweep, label="engine sweep")


# --- worker connections -------------------------------------------------------
ASYNC_COMMIT_OPTION = "-c synchronous_commit=off"


@worker_process_init.connect
def _configure_worker_connections(**_: object) -> None:
    """Engine steps in workers do not wait for the WAL flush (SOPS_ENGINE_ASYNC_COMMIT).

    A step is a few milliseconds of work and a disk flush costs as much again;
    PostgreSQL stays consistent without it, and only a server *crash* can lose
    the last fraction of a second of steps (see README, SOPS_ENGINE_ASYNC_COMMIT),
    which fences and the reaper recover (a lost step's messages find no matching
    version and are dropped; its run or node lease expires and the work is sent
    again). Web requests keep the default.

    The setting travels in the connection's startup packet (libpq `options`), so
    every connection of this pool process, in any thread and after any
    reconnect, has it without a statement at connect: a connect is then nothing
    but a connect, which db_retry's "nothing changed yet" rule relies on.
    """
    if not config.async_commit():
        return
    db = connections.settings["default"]
    if load_backend(db["ENGINE"]).DatabaseWrapper.vendor != "postgresql":  # Django's backend or a subclass
        return
    options = db.setdefault("OPTIONS", {})
    if ASYNC_COMMIT_OPTION not in options.get("options", ""):
        options["options"] = f"{options.get('options', '')} {ASYNC_COMMIT_OPTION}".strip()


# --- the sweep loop inside each worker's main process ------------------------
_sweeper_stop = threading.Event()


@worker_ready.connect
def _start_sweeper(**_: object) -> None:
    if not config.sweep_in_worker():
        return
    thread = threading.Thread(target=reaper.loop, args=(_sweeper_stop,), daemon=True, name="engine-sweeper")
    thread.start()


@worker_shutdown.connect
def _stop_sweeper(**_: object) -> None:
    _sweeper_stop.set()
