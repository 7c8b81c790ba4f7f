"""Runs a non-inline component's execute/schedule with no lock held.

The message is claimed first with a conditional UPDATE on the node row (its
version, schedule count and due time must match, and no live lease may be
held), so a duplicate or stale message does nothing. While the component
runs, the process's watcher thread renews the lease and sets
`ctx.stop_event` as soon as the node is no longer RUNNING with this version
(forced fail, timeout, revoke). The result is reported through a locked
step, which drops it if the node's version moved on meanwhile.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from functools import partial

from django.db import close_old_connections, connection

from pipeline_engine.core import operations
from pipeline_engine.core.components import call, get_component
from pipeline_engine.core.nodes.activity import execution_context
from pipeline_engine.core.records import NodeRecord
from pipeline_engine.core.walker import Walker

from . import config, db_retry, metrics, rows, tree_cache
from .step import step

logger = logging.getLogger("pipeline_engine")


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
        # When the thread wakes up on its own (monotonic); a watch due later needs no wake-up call.
        # Waking it for each new watch cost a context switch per component call on a busy machine.
        self._wakes_at = 0.0

    def watch(self, run_id: str, key: str, version: str, stop_event: threading.Event, interval: float) -> int:
        with self._cond:
            self._seq += 1
            token = self._seq
            self._watches[token] = _Watch(token, run_id, key, version, stop_event, time.monotonic() + interval)
            # A forked worker child inherits the registry but not the thread.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._wakes_at = 0.0
                self._thread = threading.Thread(target=self._loop, daemon=True, name="engine-watcher")
                self._thread.start()
            elif self._watches[token].due < self._wakes_at:
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
        interval = min(1.0, config.lease_seconds() / 3)
        while True:
            with self._cond:
                now = time.monotonic()
                due = [w.token for w in self._watches.values() if w.due <= now]
                if not due:
                    wait = max(0.001, min((w.due for w in self._watches.values()), default=now + 60) - now)
                    self._wakes_at = now + wait
                    self._cond.wait(wait)
                    self._wakes_at = 0.0  # awake: a watch added now is seen by the next look
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
                    db_retry.retry_if_unchanged(partial(self._check, w), wait=0,
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
        if not rows.renew_lease(w.run_id, w.key, w.version, config.lease_seconds()):
            logger.info("run=%s node=%s version=%s told to stop", w.run_id, w.key, w.version)
            w.stop_event.set()


_watcher = _SharedWatcher()


def _claim(run_id: str, key: str, version: str, schedule_count: int) -> tuple[NodeRecord, str | None] | None:
    """The claimed row, and the run's tree text when this process has not compiled the tree yet
    (most runs start in a web process): the claim reads it, one statement where there were two."""
    if tree_cache.cached(run_id) is None:
        return rows.claim_node_with_tree(run_id, key, version, schedule_count, config.lease_seconds())
    rec = rows.claim_node(run_id, key, version, schedule_count, config.lease_seconds())
    return None if rec is None else (rec, None)


def run_component(run_id: str, key: str, version: str, schedule_count: int,
                  time_zone: str | None = None, executor: str | None = None) -> None:
    """Claim the work a message names, run the component call(s), report the outcome in a step."""
    # The claim is one conditional UPDATE: retried only if it never completed. Had it committed
    # and only its answer been lost, the retry finds the lease taken and drops the message; the
    # lease then expires and the reaper re-sends the work, as for a killed worker.
    claimed = db_retry.retry_if_unchanged(lambda: _claim(run_id, key, version, schedule_count),
                                          label=f"run={run_id} node={key} claim")
    if claimed is None:
        metrics.STALE_MESSAGES.labels("run_component").inc()
        logger.debug("run=%s node=%s version=%s sc=%s stale component message dropped",
                     run_id, key, version, schedule_count)
        return
    rec, tree_json = claimed
    node = db_retry.retry_if_unchanged(lambda: tree_cache.compiled_tree(run_id, tree_json),
                                       label=f"run={run_id} tree read").node(key)
    try:
        component_cls = get_component(node.code, node.version)
    except KeyError:
        # Validation found the component when the run started, so this worker is
        # missing a plugin the others have: hand the work back instead of failing
        # the node; a worker that has it (or this one, once fixed) takes it.
        rows.release_node(run_id, key, version)
        logger.error("run=%s node=%s version=%s component %s is not registered in this worker; released",
                     run_id, key, version, node.code)
        return
    if time_zone is None or executor is None:  # sent by the reaper, which does not read runs
        time_zone, executor = db_retry.retry_if_unchanged(lambda: rows.run_locale(run_id),
                                                          label=f"run={run_id} read")
    ctx = execution_context(rec, run_id=run_id, time_zone=time_zone, executor=executor)
    phase = rec.phase
    logger.debug("run=%s node=%s version=%s phase=%s component=%s start", run_id, key, version, phase, node.code)
    token = _watcher.watch(run_id, key, version, ctx.stop_event, interval=min(1.0, config.lease_seconds() / 3))
    try:
        outcome, calls = call(component_cls(), ctx, phase, rec.callback_data)
    finally:
        _watcher.unwatch(token)
    # The claimed row is what the node looks like now unless a callback arrived
    # meanwhile (the walker re-reads it then), so the step need not read it again.
    log = ctx.log.take()  # stored by the result step, with the outcome (a stale result's log is kept too)

    def report(w: Walker) -> bool:
        if log[0] or log[1]:
            w.logs.append((key, rec.node_id, version, *log))
        return operations.apply_result(w, key, version, schedule_count, outcome, ctx.outputs, ctx.state, calls)

    applied = db_retry.retry_if_unchanged(lambda: step(run_id, report, records={key: rec}),
        label=f"run={run_id} node={key} result step")
    if not applied:
        metrics.STALE_MESSAGES.labels("run_component_result").inc()
        logger.info("run=%s node=%s version=%s late result dropped (%s)", run_id, key, version, outcome.kind)
    else:
        # DEBUG: one line per node at INFO cost more than a fast component's work.
        logger.debug("run=%s node=%s version=%s result=%s", run_id, key, version, outcome.kind)
    close_old_connections()
