"""Runs a non-inline component's execute/schedule with no lock held.

The message is claimed first with a conditional UPDATE on the node row (its
version, schedule count and due time must match, and no live lease may be
held), so a duplicate or stale message does nothing. While the component
runs, a watcher thread renews the lease and sets `ctx.stop_event` as soon as
the node is no longer RUNNING with this version (forced fail, timeout,
revoke). The result is reported through a locked step, which drops it if the
node's version moved on meanwhile.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from pipeline_engine.core import states as s
from pipeline_engine.core.components.base import ExecutionContext, Outcome
from pipeline_engine.core.walker import _component_class, _safe_call

from . import metrics, store
from .models import NodeState

logger = logging.getLogger("pipeline_engine")

# A poll asking for no delay is served in the same task, up to this many times,
# instead of a round trip through the broker.
MAX_IMMEDIATE_POLLS = 100
# A timer message may arrive a little before its wake-up time.
EARLY_TOLERANCE = timedelta(seconds=1)


class _Watcher(threading.Thread):
    """Renews the node's lease and raises the stop flag when the node moved on."""

    def __init__(self, pk: str, version: str, stop_event: threading.Event, interval: float) -> None:
        super().__init__(daemon=True, name=f"watch-{pk[-12:]}")
        self.pk, self.version, self.stop_event = pk, version, stop_event
        self.interval = interval
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(self.interval):
                lease = timezone.now() + timedelta(seconds=store.lease_seconds())
                alive = NodeState.objects.filter(pk=self.pk, version=self.version, state=s.RUNNING).update(
                    lease_until=lease)
                if not alive:
                    logger.info("node=%s version=%s told to stop", self.pk, self.version)
                    self.stop_event.set()
                    return
        except Exception:  # noqa: BLE001 - the watcher must never kill the work it watches
            logger.exception("node=%s watcher failed", self.pk)
        finally:
            connection.close()


def claim(run_id: str, key: str, version: str, schedule_count: int) -> bool:
    now = timezone.now()
    lease = now + timedelta(seconds=store.lease_seconds())
    return bool(
        NodeState.objects.filter(
            pk=store.node_pk(run_id, key), version=version, state=s.RUNNING, schedule_count=schedule_count,
            wake_at__lte=now + EARLY_TOLERANCE,
        ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(lease_until=lease, wake_at=None)
    )


def run_component(run_id: str, key: str, version: str, schedule_count: int) -> None:
    if not claim(run_id, key, version, schedule_count):
        metrics.STALE_MESSAGES.labels("run_component").inc()
        logger.debug("run=%s node=%s version=%s sc=%s stale component message dropped",
                     run_id, key, version, schedule_count)
        return
    pk = store.node_pk(run_id, key)
    row = (NodeState.objects.select_related("run")
           .only("key", "node_id", "phase", "inputs", "comp_state", "callback_data", "schedule_count",
                 "run__time_zone", "run__executor")
           .get(pk=pk))
    node = store.compiled_tree(run_id).node(key)
    ctx = ExecutionContext(
        run_id=run_id, node_id=row.node_id, inputs=dict(row.inputs or {}), state=dict(row.comp_state or {}),
        time_zone=row.run.time_zone, executor=row.run.executor, schedule_count=row.schedule_count,
        version=version,
    )
    logger.info("run=%s node=%s version=%s phase=%s component=%s start", run_id, key, version, row.phase,
                node.code)
    watcher = _Watcher(pk, version, ctx.stop_event, interval=min(1.0, store.lease_seconds() / 3))
    watcher.start()
    calls = 0
    phase = row.phase
    try:
        try:
            component = _component_class(node.code, node.version)()
        except KeyError:
            outcome = Outcome.failure(f"component {node.code} is not registered")
        else:
            while True:
                if phase == s.PHASE_EXECUTE:
                    outcome = _safe_call(lambda: component.execute(ctx))
                else:
                    data = row.callback_data if phase == s.PHASE_CALLBACK else None
                    outcome = _safe_call(lambda data=data: component.schedule(ctx, data))
                if (outcome.kind == "poll" and outcome.interval <= 0 and calls < MAX_IMMEDIATE_POLLS
                        and not ctx.should_stop()):
                    calls += 1
                    ctx.schedule_count += 1
                    phase = s.PHASE_POLL
                    continue
                break
    finally:
        watcher.done.set()
    applied = store.step(
        run_id, lambda w: w.apply_result(key, version, schedule_count, outcome, ctx.outputs, ctx.state, calls))
    if not applied:
        metrics.STALE_MESSAGES.labels("run_component_result").inc()
        logger.info("run=%s node=%s version=%s late result dropped (%s)", run_id, key, version, outcome.kind)
    else:
        logger.info("run=%s node=%s version=%s result=%s", run_id, key, version, outcome.kind)
    close_old_connections()
