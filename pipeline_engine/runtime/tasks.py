"""Celery tasks of the engine. Every message is fenced: see runner and walker."""
from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import connections

from pipeline_engine.errors import RunNotFound

from . import db_retry, metrics, runner, store

logger = logging.getLogger("pipeline_engine")

ADVANCE = "pipeline_engine.advance"
RUN_COMPONENT = "pipeline_engine.run_component"
SWEEP = "pipeline_engine.sweep"


def _queue_wait(task: str, sent_at: float | None) -> None:
    if sent_at:
        metrics.child(metrics.QUEUE_WAIT, task).observe(max(0.0, time.time() - sent_at))


@shared_task(name=ADVANCE, ignore_result=True)
def advance(run_id: str, event: str = "", key: str = "", version: str = "", sent_at: float | None = None) -> None:
    _queue_wait("advance", sent_at)

    def apply(walker):  # type: ignore[no-untyped-def]
        if event == "timeout":
            return walker.apply_timeout(key, version)
        if event == "auto_retry":
            return walker.apply_auto_retry(key, version)
        return None

    metrics.child(metrics.STEPS, event or "advance").inc()
    store.collect_local_work()
    try:
        db_retry.retry_if_unchanged(lambda: store.step(run_id, apply), label=f"run={run_id} advance step")
    except RunNotFound:
        logger.warning("run=%s advance for a missing run dropped", run_id)
    finally:
        _run_local_work()


@shared_task(name=RUN_COMPONENT, ignore_result=True)
def run_component(run_id: str, key: str, version: str, schedule_count: int, sent_at: float | None = None,
                  time_zone: str | None = None, executor: str | None = None) -> None:
    _queue_wait("run_component", sent_at)
    store.collect_local_work()
    try:
        runner.run_component(run_id, key, version, schedule_count, time_zone, executor)
    except RunNotFound:
        logger.warning("run=%s component message for a missing run dropped", run_id)
    finally:
        _run_local_work()


# How many components one task may run back to back before handing the rest to
# the broker, so one long chain cannot monopolise a worker process.
MAX_LOCAL_CHAIN = 50


def _run_local_work() -> None:
    try:
        for _ in range(MAX_LOCAL_CHAIN):
            work = store.take_local_work()
            if work is None:
                return
            run_id, key, version, schedule_count, time_zone, executor = work
            try:
                runner.run_component(run_id, key, version, schedule_count, time_zone, executor)
            except RunNotFound:
                return
    finally:
        for run_id, key, version, schedule_count, time_zone, executor in store.stop_local_work():
            send_component(run_id, key, version, schedule_count, time_zone=time_zone, executor=executor)


@shared_task(name=SWEEP, ignore_result=True)
def sweep() -> None:
    from . import reaper

    db_retry.retry_if_unchanged(reaper.sweep, label="engine sweep")


# Celery renders args/kwargs for monitoring with its pure-Python saferepr on every
# publish (a noticeable share of a run start); engine messages hold only short
# strings and numbers, so the built-in repr gives the same text much cheaper.
def send_advance(run_id: str, *, event: str = "", key: str = "", version: str = "", countdown: float = 0) -> None:
    args = [run_id]
    kwargs = {"event": event, "key": key, "version": version, "sent_at": time.time()}
    advance.apply_async(args=args, kwargs=kwargs, countdown=countdown or None,
                        argsrepr=repr(args), kwargsrepr=repr(kwargs))


def send_component(run_id: str, key: str, version: str, schedule_count: int, *, countdown: float = 0,
                   time_zone: str | None = None, executor: str | None = None) -> None:
    args = [run_id, key, version, schedule_count]
    kwargs: dict[str, object] = {"sent_at": time.time()}
    if time_zone is not None:
        kwargs.update(time_zone=time_zone, executor=executor or "")
    run_component.apply_async(args=args, kwargs=kwargs, countdown=countdown or None,
                              argsrepr=repr(args), kwargsrepr=repr(kwargs))


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
    if not getattr(settings, "SOPS_ENGINE_ASYNC_COMMIT", True):
        return
    db = connections.settings["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    options = db.setdefault("OPTIONS", {})
    if ASYNC_COMMIT_OPTION not in options.get("options", ""):
        options["options"] = f"{options.get('options', '')} {ASYNC_COMMIT_OPTION}".strip()


# --- the sweep loop inside each worker's main process ------------------------
_sweeper_stop = threading.Event()


@worker_ready.connect
def _start_sweeper(**_: object) -> None:
    if not getattr(settings, "SOPS_ENGINE_SWEEP_IN_WORKER", True):
        return
    from . import reaper

    thread = threading.Thread(target=reaper.loop, args=(_sweeper_stop,), daemon=True, name="engine-sweeper")
    thread.start()


@worker_shutdown.connect
def _stop_sweeper(**_: object) -> None:
    _sweeper_stop.set()
