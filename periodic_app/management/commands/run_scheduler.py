"""`python manage.py run_scheduler`: fire periodic tasks and run the engine's sweep, every second.

Any number of these may run against one database; each due fire time is fired
once (see periodic_app.scheduler). SIGINT/SIGTERM finish the current tick and exit.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection

from periodic_app import clock, scheduler
from pipeline_engine.api import connection_lost, describe_db_error, retry_if_unchanged

logger = logging.getLogger("sops.periodic")


def load_engine_sweep() -> Callable[[], Any] | None:
    """The engine's timer/lease sweep, imported late so the scheduler runs without the engine."""
    try:
        from pipeline_engine.runtime import reaper
    except ImportError as exc:
        logger.warning("pipeline_engine.runtime.reaper is not available (%s); running without the engine sweep", exc)
        return None
    sweep = getattr(reaper, "sweep", None)
    if not callable(sweep):
        logger.warning("pipeline_engine.runtime.reaper has no sweep(); running without the engine sweep")
        return None
    return sweep


def _log_failure(message: str, exc: Exception) -> None:
    """One line while the database is unreachable (it says which); the traceback for anything else."""
    if connection_lost(exc):
        logger.warning("%s: database unavailable: %s", message, describe_db_error(exc))
    else:
        logger.exception(message)


class Command(BaseCommand):
    help = "Fire due periodic tasks (exactly once across processes) and run the engine's sweep, in a loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run one tick and one sweep, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (default 1)")
        parser.add_argument("--batch-size", type=int, default=scheduler.DEFAULT_BATCH_SIZE,
                            help="due rows claimed per transaction")
        parser.add_argument("--no-sweep", action="store_true", help="do not run the engine's sweep")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = max(0.05, float(options["interval"]))
        stop = threading.Event()

        def request_stop(signum: int, _frame: Any) -> None:
            logger.info("scheduler got signal %s; stopping after the current tick", signum)
            stop.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, request_stop)
            signal.signal(signal.SIGTERM, request_stop)

        sweep = None if options["no_sweep"] else load_engine_sweep()
        from tasks_app.callbacks import resend_stuck  # late, like the engine sweep: apps load first

        if clock.is_fake():
            logger.warning("scheduler clock is simulated (SOPS_SCHEDULER_* variables); now is %s", clock.now())
        logger.info("scheduler started: interval %.2fs, batch size %s, engine sweep %s",
                    interval, options["batch_size"], "on" if sweep else "off")
        while True:
            started = time.monotonic()
            if not connection.in_atomic_block:
                # A long-running process must notice dropped or stale connections (database
                # restarts); never close one a caller (call_command inside a transaction) uses.
                close_old_connections()
            # Each step is retried once on a fresh connection if the database connection was lost
            # before it changed anything (pipeline_engine.api.retry_if_unchanged), so a database
            # restart costs no tick.
            try:
                retry_if_unchanged(lambda: scheduler.tick(batch_size=options["batch_size"]), label="scheduler tick")
            except Exception as exc:
                _log_failure("scheduler tick failed; retrying on the next one", exc)
            if sweep is not None:
                try:
                    retry_if_unchanged(sweep, label="engine sweep")
                except Exception as exc:
                    _log_failure("engine sweep failed; retrying on the next tick", exc)
            try:
                # callback_url deliveries whose Celery message was lost are sent again.
                retry_if_unchanged(resend_stuck, label="callback_url re-dispatch")
            except Exception as exc:
                _log_failure("callback_url re-dispatch failed; retrying on the next tick", exc)
            if options["once"] or stop.is_set():
                break
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
            if stop.is_set():
                break
        if not connection.in_atomic_block:
            close_old_connections()
        logger.info("scheduler stopped")
