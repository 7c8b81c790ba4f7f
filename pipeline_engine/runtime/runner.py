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
from django.utils import timezone

from pipeline_engine.core import states as s
from pipeline_engine.core.components.base import ExecutionContext
from pipeline_engine.core.records import NodeRecord
from pipeline_engine.core.walker import _component_class, _safe_call

from . import metrics, store
from .models import NodeState, Run

logger = logging.getLogger("pipeline_engine")

# A poll asking for no delay is served in the same task, up to this many times,
# instead of a round trip through the broker.
MAX_IMMEDIATE_POLLS = 100
# A timer message may arrive a little before its wake-up time.
EARLY_TOLERANCE = timedelta(seconds=1)


class _Watcher(threading.Thread):
    """Renews the node's lease and raises the stop flag when the node moved on."""

    def __init__(self, run_id: str, key: str, version: str, stop_event: threading.Event,
                 interval: float) -> None:
        super().__init__(daemon=True, name=f"watch-{key[-12:]}")
        self.run_id, self.key, self.version, self.stop_event = run_id, key, version, stop_event
        self.interval = interval
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(self.interval):
                lease = timezone.now() + timedelta(seconds=store.lease_seconds())
                alive = NodeState.objects.filter(run_id=self.run_id, key=self.key, version=self.version,
                                                 state=s.RUNNING).update(lease_until=lease)
                if not alive:
                    logger.info("run=%s node=%s version=%s told to stop", self.run_id, self.key, self.version)
                    self.stop_event.set()
                    return
        except Exception:  # noqa: BLE001 - the watcher must never kill the work it watches
            logger.exception("run=%s node=%s watcher failed", self.run_id, self.key)
        finally:
            connection.close()


_CLAIM_SQL = """
UPDATE {table} SET lease_until = %s, wake_at = NULL
WHERE run_id = %s AND key = %s AND version = %s AND state = %s AND schedule_count = %s AND wake_at <= %s
  AND (lease_until IS NULL OR lease_until < %s)
RETURNING {columns}
"""


def claim(run_id: str, key: str, version: str, schedule_count: int) -> NodeRecord | None:
    """Take the work a message names, in one statement; None when the message is stale.

    The conditional UPDATE is the fence (version, schedule count, due time, no
    live lease) and RETURNING hands back what the work needs, so a component
    message costs one statement before the component runs.
    """
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    lease = now + timedelta(seconds=store.lease_seconds())
    with connection.cursor() as cursor:
        sql = _CLAIM_SQL.format(table=connection.ops.quote_name(NodeState._meta.db_table),
                                columns=store.returning_columns())
        cursor.execute(sql, [
            adapt(lease), run_id, key, version, s.RUNNING, schedule_count,
            adapt(now + EARLY_TOLERANCE), adapt(now),
        ])
        row = cursor.fetchone()
    return None if row is None else store.record_from_values(row)


def release(run_id: str, key: str, version: str) -> None:
    """Give claimed work back: due again now, no lease (the reaper re-sends it)."""
    NodeState.objects.filter(run_id=run_id, key=key, version=version, state=s.RUNNING).update(
        lease_until=None, wake_at=timezone.now())


def run_component(run_id: str, key: str, version: str, schedule_count: int,
                  time_zone: str | None = None, executor: str | None = None) -> None:
    rec = claim(run_id, key, version, schedule_count)
    if rec is None:
        metrics.STALE_MESSAGES.labels("run_component").inc()
        logger.debug("run=%s node=%s version=%s sc=%s stale component message dropped",
                     run_id, key, version, schedule_count)
        return
    node = store.compiled_tree(run_id).node(key)
    try:
        component_cls = _component_class(node.code, node.version)
    except KeyError:
        # Validation found the component when the run started, so this worker is
        # missing a plugin the others have: hand the work back instead of failing
        # the node; a worker that has it (or this one, once fixed) takes it.
        release(run_id, key, version)
        logger.error("run=%s node=%s version=%s component %s is not registered in this worker; released",
                     run_id, key, version, node.code)
        return
    if time_zone is None or executor is None:  # sent by the reaper, which does not read runs
        time_zone, executor = Run.objects.values_list("time_zone", "executor").get(pk=run_id)
    ctx = ExecutionContext(
        run_id=run_id, node_id=rec.node_id, inputs=dict(rec.inputs or {}), state=dict(rec.comp_state or {}),
        time_zone=time_zone, executor=executor, schedule_count=schedule_count, version=version,
    )
    phase = rec.phase
    logger.debug("run=%s node=%s version=%s phase=%s component=%s start", run_id, key, version, phase, node.code)
    watcher = _Watcher(run_id, key, version, ctx.stop_event, interval=min(1.0, store.lease_seconds() / 3))
    watcher.start()
    calls = 0
    try:
        component = component_cls()
        while True:
            if phase == s.PHASE_EXECUTE:
                outcome = _safe_call(lambda: component.execute(ctx))
            else:
                data = rec.callback_data if phase == s.PHASE_CALLBACK else None
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
    # The claimed row is what the node looks like now unless a callback arrived
    # meanwhile (the walker re-reads it then), so the step need not read it again.
    applied = store.step(
        run_id, lambda w: w.apply_result(key, version, schedule_count, outcome, ctx.outputs, ctx.state, calls),
        records={key: rec})
    if not applied:
        metrics.STALE_MESSAGES.labels("run_component_result").inc()
        logger.info("run=%s node=%s version=%s late result dropped (%s)", run_id, key, version, outcome.kind)
    else:
        logger.info("run=%s node=%s version=%s result=%s", run_id, key, version, outcome.kind)
    close_old_connections()
