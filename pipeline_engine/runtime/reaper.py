"""The sweep: wakes due timers and recovers lost work.

Time lives in the database (node wake_at / deadline / lease_until, run
lease_until), so whatever happens to the broker or a worker, the sweep finds
what is due and re-sends it. Every message it sends is fenced, so sweeping
from several processes at once is harmless.

Run it in one of three ways: the daemon thread each Celery worker starts
(setting SOPS_ENGINE_SWEEP_IN_WORKER, default on), the Celery task
`pipeline_engine.sweep`, or `python -m pipeline_engine.runtime.reaper`.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from pipeline_engine.core import states as s
from pipeline_engine.errors import EngineError

from . import db_retry, metrics, store
from .models import NodeState, Run

logger = logging.getLogger("pipeline_engine")

BATCH = 500


def interval_seconds() -> float:
    return float(getattr(settings, "SOPS_REAPER_INTERVAL_SECONDS", 1.0))


def sweep(now: datetime | None = None) -> dict[str, int]:
    """One pass; returns how many items of each kind it acted on."""
    from . import tasks

    now = now or timezone.now()
    lease = store.lease_seconds()
    # Messages sent with a countdown normally arrive on time: give them a
    # moment before sending a second copy.
    grace = timedelta(seconds=min(2.0, lease))
    counts = {"timers": 0, "leases": 0, "timeouts": 0, "runs": 0}

    # Due work nobody has claimed (lost or late message), at most once per lease.
    due = list(
        NodeState.objects.filter(wake_at__lte=now - grace)
        .filter(Q(nudged_at__isnull=True) | Q(nudged_at__lt=now - timedelta(seconds=lease)))
        .values_list("pk", "run_id", "key", "version", "schedule_count", "state", "phase")[:BATCH]
    )
    if due:
        NodeState.objects.filter(pk__in=[d[0] for d in due]).update(nudged_at=now)
    for _pk, run_id, key, version, sc, state, phase in due:
        if state == s.RUNNING:
            tasks.send_component(run_id, key, version, sc)
        elif state == s.FAILED and phase == s.PHASE_RETRY_WAIT:
            tasks.send_advance(run_id, event="auto_retry", key=key, version=version)
        counts["timers"] += 1
        metrics.REAPER_RECOVERIES.labels("timer").inc()

    # Work whose worker stopped renewing its lease (killed, lost): do it again.
    expired = list(
        NodeState.objects.filter(lease_until__lt=now, state=s.RUNNING)
        .values_list("pk", "run_id", "key", "version", "schedule_count")[:BATCH]
    )
    for pk, run_id, key, version, sc in expired:
        reset = NodeState.objects.filter(pk=pk, version=version, lease_until__lt=now).update(
            lease_until=None, wake_at=now, nudged_at=now)
        if reset:
            logger.warning("run=%s node=%s version=%s lease expired, work re-sent", run_id, key, version)
            tasks.send_component(run_id, key, version, sc)
            counts["leases"] += 1
            metrics.REAPER_RECOVERIES.labels("lease").inc()

    # Timeouts: force-fail under the run lock (the walker re-checks the fence).
    overdue = list(
        NodeState.objects.filter(deadline__lte=now, state=s.RUNNING)
        .values_list("run_id", "key", "version")[:BATCH]
    )
    for run_id, key, version in overdue:
        try:
            if store.step(run_id, lambda w, key=key, version=version: w.apply_timeout(key, version)):
                counts["timeouts"] += 1
                metrics.REAPER_RECOVERIES.labels("timeout").inc()
        except EngineError:
            logger.exception("run=%s node=%s timeout could not be applied", run_id, key)

    # Runs owed an advance step whose message got lost.
    owed = list(Run.objects.filter(lease_until__lte=now).values_list("pk", flat=True)[:BATCH])
    if owed:
        Run.objects.filter(pk__in=owed).update(lease_until=now + timedelta(seconds=lease))
    for run_id in owed:
        tasks.send_advance(run_id)
        counts["runs"] += 1
        metrics.REAPER_RECOVERIES.labels("run").inc()
    if any(counts.values()):
        logger.info("sweep %s", counts)
    return counts


def loop(stop: threading.Event | None = None) -> None:
    """Sweep every SOPS_REAPER_INTERVAL_SECONDS until `stop` is set."""
    stop = stop or threading.Event()
    while not stop.wait(interval_seconds()):
        try:
            db_retry.retry_if_unchanged(sweep, label="engine sweep")
        except Exception as exc:  # noqa: BLE001 - keep sweeping through transient DB errors
            if db_retry.connection_lost(exc):
                logger.warning("sweep failed, database unavailable: %s", db_retry.describe(exc))
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
