"""The sweep: wakes due timers and recovers lost work.

Time lives in the database (node wake_at / deadline / lease_until, run
lease_until), so whatever happens to the broker or a worker, the sweep finds
what is due and re-sends it. Every message it sends is fenced, so sweeping
from several processes at once is harmless.

Run it in one of three ways: the daemon thread each Celery worker starts
(setting SOPS_ENGINE_SWEEP_IN_WORKER, default on), the Celery task
`pipeline_engine.sweep`, or `pipeline_engine.api.sweep()` from a process of
your own (the project's scheduler command does).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from functools import partial

from django.db import close_old_connections
from django.utils import timezone

from pipeline_engine.core import operations
from pipeline_engine.core import states as s
from pipeline_engine.core.walker import Walker
from pipeline_engine.errors import EngineError

from . import config, db_retry, dispatch, metrics, rows
from .step import step

logger = logging.getLogger("pipeline_engine")

BATCH = 500


def sweep(now: datetime | None = None) -> dict[str, int]:
    """One pass; returns how many items of each kind it acted on."""
    now = now or timezone.now()
    lease = timedelta(seconds=config.lease_seconds())
    # Messages sent with a countdown normally arrive on time: give them a
    # moment before sending a second copy.
    grace = timedelta(seconds=min(2.0, config.lease_seconds()))
    counts = {"timers": 0, "leases": 0, "timeouts": 0, "runs": 0}

    # Due work nobody has claimed (lost or late message), at most once per lease.
    for run_id, key, version, sc, state, phase in rows.due_work(now, grace, lease, BATCH):
        if state == s.RUNNING:
            dispatch.send_component(run_id, key, version, sc)
        elif state == s.FAILED and phase == s.PHASE_RETRY_WAIT:
            dispatch.send_advance(run_id, event="auto_retry", key=key, version=version)
        counts["timers"] += 1
        metrics.REAPER_RECOVERIES.labels("timer").inc()

    # Work whose worker stopped renewing its lease (killed, lost): do it again.
    for pk, run_id, key, version, sc in rows.expired_leases(now, BATCH):
        if rows.reset_expired(pk, version, now):
            logger.warning("run=%s node=%s version=%s lease expired, work re-sent", run_id, key, version)
            dispatch.send_component(run_id, key, version, sc)
            counts["leases"] += 1
            metrics.REAPER_RECOVERIES.labels("lease").inc()

    # Timeouts: force-fail under the run lock (the walker re-checks the fence).
    for run_id, key, version in rows.overdue_nodes(now, BATCH):
        try:
            if step(run_id, partial(_apply_timeout, key=key, version=version)):
                counts["timeouts"] += 1
                metrics.REAPER_RECOVERIES.labels("timeout").inc()
        except EngineError:
            logger.exception("run=%s node=%s timeout could not be applied", run_id, key)

    # Runs owed an advance step whose message got lost.
    for run_id in rows.owed_runs(now, lease, BATCH):
        dispatch.send_advance(run_id)
        counts["runs"] += 1
        metrics.REAPER_RECOVERIES.labels("run").inc()
    if any(counts.values()):
        logger.info("sweep %s", counts)
    return counts


def _apply_timeout(w: Walker, *, key: str, version: str) -> bool:
    return operations.apply_timeout(w, key, version)


def loop(stop: threading.Event | None = None) -> None:
    """Sweep every SOPS_REAPER_INTERVAL_SECONDS until `stop` is set."""
    stop = stop or threading.Event()
    while not stop.wait(config.sweep_interval_seconds()):
        try:
            db_retry.retry_if_unchanged(sweep, label="engine sweep")
        except Exception as exc:  # noqa: BLE001 - keep sweeping through transient DB errors
            if db_retry.connection_lost(exc):
                logger.warning("sweep failed, database unavailable: %s", db_retry.describe(exc))
            elif dispatch.broker_unavailable(exc):
                # One line per pass while the broker is down; the next pass sends what is still due.
                logger.warning("sweep stopped, the broker is unavailable (%s: %s); retrying on the next pass",
                               exc.__class__.__name__, exc)
            else:
                logger.exception("sweep failed")
        finally:
            close_old_connections()


if __name__ == "__main__":  # pragma: no cover - a process entry point
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sops_api.settings")
    django.setup()
    logging.basicConfig(level=logging.INFO)
    loop()
