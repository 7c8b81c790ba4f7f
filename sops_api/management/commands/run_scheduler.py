"""`python manage.py run_scheduler`: the maintenance tick (sops_api/maintenance.py), every second.

Periodic tasks fire, due clocked tasks start, the engine sweeps, lost run ends are recorded and lost
callback deliveries re-sent. Any number of these may run against one database;
each due fire time is fired once (see periodic_app.scheduler), and each clocked task started
once (clocked_app.scheduler). SIGINT/SIGTERM
finish the current tick and exit; SIGUSR1 writes every thread's stack to stderr (a tick that
does not end shows where it waits).
"""
from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection

from periodic_app import clock, scheduler
from sops_api.maintenance import Maintenance

logger = logging.getLogger("sops.periodic")


class Command(BaseCommand):
    help = ("Fire due periodic tasks and start due clocked tasks (exactly once across processes), run the "
            "engine's sweep, record lost run ends and re-send lost callbacks, in a loop.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run one tick, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (default 1)")
        parser.add_argument("--batch-size", type=int, default=scheduler.DEFAULT_BATCH_SIZE,
                            help="due periodic tasks claimed per transaction")
        parser.add_argument("--firing-threads", type=int, default=None,
                            help="threads that fire a burst of due periodic tasks (default "
                                 "SOPS_SCHEDULER_FIRING_THREADS, 2; PostgreSQL only)")
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
            faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)

        threads = options["firing_threads"] or scheduler.firing_threads()
        maintenance = Maintenance(batch_size=options["batch_size"], sweep=not options["no_sweep"],
                                  firing_threads=threads)
        if clock.is_fake():
            logger.warning("scheduler clock is simulated (SOPS_SCHEDULER_* variables); now is %s", clock.now())
        logger.info("scheduler started: interval %.2fs, batch size %s, firing threads %s, engine sweep %s",
                    interval, options["batch_size"], threads, "on" if maintenance.sweep else "off")
        while True:
            started = time.monotonic()
            if not connection.in_atomic_block:
                # A long-running process must notice dropped or stale connections (database
                # restarts); never close one a caller (call_command inside a transaction) uses.
                close_old_connections()
            maintenance.tick()
            if options["once"] or stop.is_set():
                break
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
            if stop.is_set():
                break
        if not connection.in_atomic_block:
            close_old_connections()
        logger.info("scheduler stopped")
