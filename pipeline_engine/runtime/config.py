"""The settings the engine's runtime reads: lease, rerun limit, sweep, commit mode.

Each is read when used, not at import, so a test or a process that changes
Django's settings is seen at once.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from django.conf import settings


def lease_seconds() -> int:
    """How long running work or an owed advance may go unrenewed before the sweep re-sends it."""
    return int(getattr(settings, "SOPS_REAPER_LEASE_SECONDS", 30))


def rerun_limit() -> int:
    """How often a node may be re-entered through a loop before it fails."""
    return int(getattr(settings, "SOPS_NODE_RERUN_LIMIT", 100))


def sweep_interval_seconds() -> float:
    return float(getattr(settings, "SOPS_REAPER_INTERVAL_SECONDS", 1.0))


def sweep_in_worker() -> bool:
    """Whether each Celery worker's main process runs the sweep in a thread."""
    return bool(getattr(settings, "SOPS_ENGINE_SWEEP_IN_WORKER", True))


def async_commit() -> bool:
    """Whether engine steps in workers commit without waiting for the WAL flush (PostgreSQL)."""
    return bool(getattr(settings, "SOPS_ENGINE_ASYNC_COMMIT", True))


def start_walk_seconds() -> float:
    """How much CPU time the caller of run_pipeline may spend walking a new run's first step
    itself (SOPS_ENGINE_START_WALK_MS, default 5 ms; 0: every step is a worker's)."""
    return float(getattr(settings, "SOPS_ENGINE_START_WALK_MS", 5)) / 1000.0


def db_retry_wait_seconds() -> float:
    """How long a worker, the sweep or the scheduler waits for the database before its one retry."""
    return float(getattr(settings, "SOPS_DB_RETRY_WAIT_SECONDS", 10.0))


def tree_cache_bytes() -> int:
    """The compiled-tree cache's budget per process, in approximate bytes (runtime/tree_cache.py)."""
    return int(getattr(settings, "SOPS_TREE_CACHE_BYTES", 64 * 1024 * 1024))


def clock() -> Callable[[], datetime]:
    """What timezone.now returns, without its settings lookup on each of the
    several calls per node a walk makes."""
    return partial(datetime.now, UTC) if settings.USE_TZ else datetime.now


def server_prepare() -> bool:
    """Whether hot reads are prepared once per PostgreSQL connection (runtime/prepared.py). Off
    for a pooler that hands a client's statements to other sessions (PgBouncer's transaction mode)."""
    return bool(getattr(settings, "SOPS_DB_PREPARE", True))
