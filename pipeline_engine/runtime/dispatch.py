"""Sending a step's effects after its commit: engine messages (by Celery task name), the
run_finished signal, metrics; and the thread-local queue of work a task keeps for itself.

Messages go through the tasks registered under the names below (runtime.tasks
registers them), looked up in the Celery app's registry, so this module needs
no import of the entry points that call down into it.

**A message is sent after its commit, and its failure never undoes what the commit said.**
`publish` is the one rule for every message whose state is already committed (the engine's
and the apps', through `pipeline_engine.api.publish_after_commit`): a broker that cannot take
it (Redis down, the embedded broker's folder gone) is logged as a warning and counted in
`sops_engine_messages_unsent_total`, and the caller goes on to answer what the database says
happened. The rows already say the work is due (a run's lease, a node's wake-up time, a
callback record's next attempt), so the sweep sends the message again once the broker is back.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction
from kombu.exceptions import ChannelError, KombuError
from kombu.exceptions import ConnectionError as BrokerConnectionError

from pipeline_engine.core import states as s
from pipeline_engine.core.records import Effect, NodeRecord
from pipeline_engine.signals import node_failed, run_finished

from . import metrics
from .models import Run

logger = logging.getLogger("pipeline_engine")

ADVANCE = "pipeline_engine.advance"
RUN_COMPONENT = "pipeline_engine.run_component"
SWEEP = "pipeline_engine.sweep"

_tasks: dict[str, Any] = {}


def _task(name: str) -> Any:
    """The registered task of that name (looked up once per process)."""
    task = _tasks.get(name)
    if task is None:
        task = _tasks[name] = current_app.tasks[name]
    return task


# Celery renders args/kwargs for monitoring with its pure-Python saferepr on every
# publish (a noticeable share of a run start); engine messages hold only short
# strings and numbers, so the built-in repr gives the same text much cheaper.
def send_advance(run_id: str, *, event: str = "", key: str = "", version: str = "", countdown: float = 0) -> None:
    args = [run_id]
    kwargs = {"event": event, "key": key, "version": version, "sent_at": time.time()}
    _task(ADVANCE).apply_async(args=args, kwargs=kwargs, countdown=countdown or None,
                               argsrepr=repr(args), kwargsrepr=repr(kwargs))


def send_component(run_id: str, key: str, version: str, schedule_count: int, *, countdown: float = 0,
                   time_zone: str | None = None, executor: str | None = None) -> None:
    args = [run_id, key, version, schedule_count]
    kwargs: dict[str, object] = {"sent_at": time.time()}
    if time_zone is not None:
        kwargs.update(time_zone=time_zone, executor=executor or "")
    _task(RUN_COMPONENT).apply_async(args=args, kwargs=kwargs, countdown=countdown or None,
                                     argsrepr=repr(args), kwargsrepr=repr(kwargs))


# What a broker that cannot take a message raises: kombu's errors (a refused or lost Redis
# connection arrives as kombu's OperationalError; the embedded broker raises ChannelError when
# its folder cannot be written; kombu re-exports ChannelError and ConnectionError from amqp,
# outside KombuError), and the socket and file errors below them.
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, ChannelError, BrokerConnectionError, OSError)
try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a dependency of the Redis transport only
    pass
else:
    BROKER_ERRORS = (*BROKER_ERRORS, RedisError)


def broker_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is what a broker that cannot take a message raises."""
    return isinstance(exc, BROKER_ERRORS)


def publish(what: str, send: Callable[[], Any]) -> bool:
    """Send one message whose state is already committed; never raise. False when it was not sent.

    `what` names the message in the log ("run=... advance", "callback 12"). A broker error is
    one warning line (the broker is down: every message meets it, a traceback each would
    bury the log); any other error is logged with its traceback. Both leave the message to
    the sweep, which finds the work due in the database.
    """
    try:
        send()
    except BROKER_ERRORS as exc:
        metrics.child(metrics.UNSENT_MESSAGES, "broker").inc()
        logger.warning("%s: message not sent, the broker is unavailable (%s: %s); the sweep sends it "
                       "again once the broker is back", what, exc.__class__.__name__, exc)
        return False
    except Exception:  # noqa: BLE001 - the commit happened; its answer must not turn into an error
        metrics.child(metrics.UNSENT_MESSAGES, "error").inc()
        logger.exception("%s: message not sent; the sweep sends it again", what)
        return False
    return True


def publish_after_commit(what: str, send: Callable[[], Any]) -> None:
    """`publish` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish(what, send))


def after_commit(run_id: str, meta: dict[str, Any], time_zone: str, executor: str, effects: list[Effect],
                 finished: list[NodeRecord], *, signal_end: bool = True, recorded: bool = False) -> None:
    """Send what a committed step produced. A message that cannot be sent is logged and
    left to the sweep (the rows say the work is due). `signal_end=False`: the caller
    recorded the run's end in the step's own transaction (step.start_run). `recorded`: a
    run_ending receiver's statement recorded it in that transaction (run_finished says so)."""
    try:
        metrics.nodes_finished(finished)
    except Exception:  # noqa: BLE001 - metrics must never stop the messages below
        logger.exception("run=%s metrics failed", run_id)
    for rec in finished:
        if rec.state == s.FAILED and not rec.error_ignored and rec.phase != s.PHASE_RETRY_WAIT:
            try:
                node_failed.send(sender=Run, run_id=run_id, node_id=rec.node_id, meta=meta)
            except Exception:  # noqa: BLE001 - a receiver's failure must not stop the messages below
                logger.exception("run=%s node_failed receiver failed", run_id)
    for effect in effects:
        if effect.kind == "component":
            if not effect.countdown and _keep_local(run_id, effect, time_zone, executor):
                continue
            publish(f"run={run_id} node={effect.key} component",
                    partial(send_component, run_id, effect.key, effect.version, effect.schedule_count,
                            countdown=effect.countdown, time_zone=time_zone, executor=executor))
        elif effect.kind == "event":
            publish(f"run={run_id} node={effect.key} event={effect.event}",
                    partial(send_advance, run_id, event=effect.event, key=effect.key, version=effect.version,
                            countdown=effect.countdown))
        elif effect.kind == "advance":
            publish(f"run={run_id} advance", lambda: send_advance(run_id))
        elif effect.kind == "finished":
            try:
                _send_finished(run_id, meta, effect.state, signal=signal_end, recorded=recorded)
            except Exception:  # noqa: BLE001 - receivers' failures are theirs; the run-end reconciler catches up
                logger.exception("run=%s run_finished could not be sent", run_id)


def _send_finished(run_id: str, meta: dict[str, Any], state: str, *, signal: bool = True,
                   recorded: bool = False) -> None:
    metrics.run_finished(state)
    logger.info("run=%s finished state=%s", run_id, state)
    if signal:
        run_finished.send(sender=Run, run_id=run_id, state=state, meta=meta, recorded=recorded)


# --- running the next component in the same task ------------------------------
# A worker task that just advanced a run keeps ONE immediately-due component
# of that run to run itself next, instead of a broker round trip; the others
# go to the broker so parallel branches still spread over workers. The node
# row already says the work is due (wake_at), so if this process dies first
# the sweep sends it again, and the claim fences duplicates.
_local = threading.local()

LocalWork = tuple[str, str, str, int, str, str]  # run_id, key, version, schedule_count, time_zone, executor


def _keep_local(run_id: str, effect: Effect, time_zone: str, executor: str) -> bool:
    sink = getattr(_local, "sink", None)
    if sink is None or sink:
        return False
    sink.append((run_id, effect.key, effect.version, effect.schedule_count, time_zone, executor))
    return True


def collect_local_work() -> None:
    """From now on this thread keeps one immediately-due component for itself."""
    _local.sink = []


def take_local_work() -> LocalWork | None:
    """The component this task kept for itself, if any (and keep collecting)."""
    sink = getattr(_local, "sink", None)
    if not sink:
        return None
    work: LocalWork = sink.pop()
    return work


def stop_local_work() -> list[LocalWork]:
    """Stop keeping work; what is still kept must be sent."""
    sink: list[LocalWork] = getattr(_local, "sink", None) or []
    _local.sink = None
    return sink
