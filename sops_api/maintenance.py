"""The maintenance tick: every job that must run on a clock, one public function of an app or the engine each.

| job | function | what it does |
|---|---|---|
| periodic tasks | `periodic_app.scheduler.tick` | fires due periodic tasks, each fire time exactly once |
| clocked tasks | `clocked_app.scheduler.tick` | starts due clocked tasks, each exactly once |
| engine sweep | the engine's sweep | wakes due timers, enforces timeouts, re-sends lost work |
| run ends | `tasks_app.services.reconcile_run_ends` | records ends whose run_finished signal was lost |
| callbacks | `tasks_app.callbacks.resend_stuck` | re-sends callback_url deliveries whose message was lost |

Every job is safe to run from any number of processes at once. A job that meets
a lost database connection before it changed anything is retried once on a fresh
connection (pipeline_engine.api.retry_if_unchanged), so a database restart costs
no tick. A job that fails is logged (one line while the database is unreachable)
and tried again on the next tick; it never stops the others.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clocked_app import scheduler as clocked_scheduler
from periodic_app import clock, scheduler
from tasks_app import callbacks, services

logger = logging.getLogger("sops.maintenance")


def engine_sweep() -> dict[str, int]:
    """One pass of the engine's sweep."""
    from pipeline_engine import api  # late: the engine's models load with the apps

    return api.sweep()


@dataclass
class Maintenance:
    """The jobs of one maintenance process; `tick()` runs each once."""

    batch_size: int
    sweep: bool = True
    firing_threads: int | None = None  # None: SOPS_SCHEDULER_FIRING_THREADS
    # reconcile_run_ends works through unfinished tasks a batch per tick; this is where it goes on.
    run_end_cursor: int = 0

    def tick(self) -> None:
        self._run("periodic tick", lambda: scheduler.tick(batch_size=self.batch_size,
                                                          threads=self.firing_threads))
        self._run("clocked tick", lambda: clocked_scheduler.tick(now=clock.now(), batch_size=self.batch_size))
        if self.sweep:
            self._run("engine sweep", engine_sweep)
        self._run("run-end reconciliation", self._reconcile_run_ends)
        self._run("callback_url re-dispatch", callbacks.resend_stuck)

    def _reconcile_run_ends(self) -> None:
        done = services.reconcile_run_ends(after_id=self.run_end_cursor)
        self.run_end_cursor = done.next_after_id
        if done.recorded:
            logger.warning("recorded the end of %s run(s) whose run_finished signal was lost", done.recorded)

    @staticmethod
    def _run(name: str, job: Callable[[], Any]) -> None:
        from pipeline_engine import api  # late: the engine's models load with the apps

        try:
            api.retry_if_unchanged(job, label=name)
        except Exception as exc:
            if api.connection_lost(exc):
                logger.warning("%s failed; retrying on the next tick: database unavailable: %s",
                               name, api.describe_db_error(exc))
            elif api.broker_unavailable(exc):
                logger.warning("%s failed; retrying on the next tick: the broker is unavailable: %s: %s",
                               name, exc.__class__.__name__, exc)
            else:
                logger.exception("%s failed; retrying on the next tick", name)
