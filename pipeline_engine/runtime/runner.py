"""Runs a non-inline component's execute/schedule with no lock held.

The message is claimed first with a conditional UPDATE on the node row (its
version, schedule count and due time must match, and no live lease may be
held), so a duplicate or stale message does nothing. While the component
runs, the process's watcher thread renews the lease and sets
`ctx.stop_event` as soon as the node is no longer RUNNING with this version
(forced fail, timeout, revoke). The result is reported through a locked step, which drops it if the
node's version moved on meanwhile.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from django.db import close_old_connections, connection
from django.utils import timezone

from pipeline_engine.core import states as s
from pipeline_engine.core.components.base import ExecutionContext
from pipeline_engine.core.records import NodeRecord
from pipeline_engine.core.walker import _component_class, _safe_call

from . import db_retry, metrics, store
from .models import NodeState, Run

logger = logging.getLogger("pipeline_engine")

# A poll asking for no delay is served in the same task, up to this many times,
# instead of a round trip through the broker.
MAX_IMMEDIATE_POLLS = 100
# A timer message may arrive a little before its wake-up time.
EARLY_TOLERANCE = timedelta(seconds=1)


class _Watch:
    """One piece of work the shared watcher looks after."""

    __slots__ = ("token", "run_id", "key", "version", "stop_event", "due")

    def __init__(self, token: int, run_id: str, key: str, version: str, stop_event: threading.Event,
                 due: float) -> None:
        self.token, self.run_id, self.key, self.version = token, run_id, key, version
        self.stop_event, self.due = stop_event, due


class _SharedWatcher:
    """One thread per process renews the leases of running components and raises
    their stop flag when their node moved on (forced fail, timeout, revoke).

    It replaces a thread per component call: most components return at once,
    and starting (and joining) a thread cost more than running them. A piece of
    work is first looked at `interval` seconds after it started, exactly when
    its own watcher thread used to, so nothing changes for slow work; work that
    ends before then costs two dict operations.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: dict[int, _Watch] = {}
        self._seq = 0
        self._checking = 0  # the token whose lease is being renewed right now
        self._thread: threading.Thread | None = None
        self._pid = 0

    def watch(self, run_id: str, key: str, version: str, stop_event: threading.Event, interval: float) -> int:
        with self._cond:
            self._seq += 1
            token = self._seq
            self._watches[token] = _Watch(token, run_id, key, version, stop_event, time.monotonic() + interval)
            # A forked worker child inherits the registry but not the thread.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, daemon=True, name="engine-watcher")
                self._thread.start()
            self._cond.notify_all()
        return token

    def unwatch(self, token: int) -> None:
        """Stop watching; once this returns no lease renewal of that work is in flight,
        so it cannot land after the result step (a renewed lease would fence off
        the node's next poll until it expired)."""
        with self._cond:
            while self._checking == token:
                self._cond.wait()
            self._watches.pop(token, None)

    def _loop(self) -> None:
        interval = min(1.0, store.lease_seconds() / 3)
        while True:
            with self._cond:
                now = time.monotonic()
                due = [w.token for w in self._watches.values() if w.due <= now]
                if not due:
                    wait = min((w.due for w in self._watches.values()), default=now + 60) - now
                    self._cond.wait(max(0.001, wait))
                    continue
            for token in due:
                with self._cond:
                    w = self._watches.get(token)
                    if w is None:
                        continue  # ended meanwhile
                    w.due = time.monotonic() + interval
                    self._checking = token
                try:
                    # A lease renewal is idempotent; wait=0: one dead server must not hold up the others.
                    db_retry.retry_if_unchanged(lambda w=w: self._check(w), wait=0,
                                                label=f"node={w.key} lease renewal")
                except Exception as exc:  # noqa: BLE001 - the watcher must never stop watching
                    if db_retry.connection_lost(exc):
                        logger.warning("run=%s node=%s lease renewal failed, database unavailable: %s",
                                       w.run_id, w.key, db_retry.describe(exc))
                    else:
                        logger.exception("run=%s node=%s watcher failed", w.run_id, w.key)
                    connection.close()
                finally:
                    with self._cond:
                        self._checking = 0
                        self._cond.notify_all()
            with self._cond:
                idle = not self._watches
            if idle:
                # Hold no database connection while nothing runs.
                connection.close()

    def _check(self, w: _Watch) -> None:
        if w.stop_event.is_set():
            return
        lease = timezone.now() + timedelta(seconds=store.lease_seconds())
        alive = NodeState.objects.filter(run_id=w.run_id, key=w.key, version=w.version,
                                         state=s.RUNNING).update(lease_until=lease)
        if not alive:
            logger.info("run=%s node=%s version=%s told to stop", w.run_id, w.key, w.version)
            w.stop_event.set()


_watcher = _SharedWatcher()


_CLAIM_SQL = """
UPDATE {table} SET lease_until = %s, wake_at = NULL
WHERE run_id = %s AND key = %s AND version = %s AND state = %s AND schedule_count = %s AND wake_at <= %s
  AND (lease_until IS NULL OR lease_until < %s)
RETURNING {columns}
"""


_claim_sql: dict[str, str] = {}


def claim(run_id: str, key: str, version: str, schedule_count: int) -> NodeRecord | None:
    """Take the work a message names, in one statement; None when the message is stale.

    The conditional UPDATE is the fence (version, schedule count, due time, no
    live lease) and RETURNING hands back what the work needs, so a component
    message costs one statement before the component runs.
    """
    now = timezone.now()
    adapt = store.datetime_adapter()
    lease = now + timedelta(seconds=store.lease_seconds())
    sql = _claim_sql.get(connection.vendor)
    if sql is None:
        sql = _claim_sql[connection.vendor] = _CLAIM_SQL.format(
            table=connection.ops.quote_name(NodeState._meta.db_table), columns=store.returning_columns())
    with connection.cursor() as cursor:
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
    # The claim is one conditional UPDATE: retried only if it never completed. Had it committed
    # and only its answer been lost, the retry finds the lease taken and drops the message; the
    # lease then expires and the reaper re-sends the work, as for a killed worker.
    rec = db_retry.retry_if_unchanged(lambda: claim(run_id, key, version, schedule_count),
                                      label=f"run={run_id} node={key} claim")
    if rec is None:
        metrics.STALE_MESSAGES.labels("run_component").inc()
        logger.debug("run=%s node=%s version=%s sc=%s stale component message dropped",
                     run_id, key, version, schedule_count)
        return
    node = db_retry.retry_if_unchanged(lambda: store.compiled_tree(run_id),
                                       label=f"run={run_id} tree read").node(key)
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
        time_zone, executor = db_retry.retry_if_unchanged(
            lambda: Run.objects.values_list("time_zone", "executor").get(pk=run_id), label=f"run={run_id} read")
    ctx = ExecutionContext(
        run_id=run_id, node_id=rec.node_id, inputs=dict(rec.inputs or {}), state=dict(rec.comp_state or {}),
        time_zone=time_zone, executor=executor, schedule_count=schedule_count, version=version,
    )
    phase = rec.phase
    logger.debug("run=%s node=%s version=%s phase=%s component=%s start", run_id, key, version, phase, node.code)
    token = _watcher.watch(run_id, key, version, ctx.stop_event, interval=min(1.0, store.lease_seconds() / 3))
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
        _watcher.unwatch(token)
    # The claimed row is what the node looks like now unless a callback arrived
    # meanwhile (the walker re-reads it then), so the step need not read it again.
    applied = db_retry.retry_if_unchanged(lambda: store.step(
        run_id, lambda w: w.apply_result(key, version, schedule_count, outcome, ctx.outputs, ctx.state, calls),
        records={key: rec}), label=f"run={run_id} node={key} result step")
    if not applied:
        metrics.STALE_MESSAGES.labels("run_component_result").inc()
        logger.info("run=%s node=%s version=%s late result dropped (%s)", run_id, key, version, outcome.kind)
    else:
        # DEBUG: one line per node at INFO cost more than a fast component's work.
        logger.debug("run=%s node=%s version=%s result=%s", run_id, key, version, outcome.kind)
    close_old_connections()
