"""Telling a task's creator that its run ended (finished, revoked) or a node failed: one POST to callback_url
per event, retried with backoff. The body is the original's (`callback_body`).

A record is written in the transaction that observes the end, and the Celery task is
queued on commit, so a notification is never sent for a change that rolled back. If the
message is lost after that (the process died before on_commit ran, the broker dropped it,
a worker died holding its countdown), the record stays `pending` with `next_attempt_at`
in the past: `resend_stuck`, run by the scheduler, dispatches it again.

Every attempt goes through the engine's egress policy (`pipeline_engine.api.egress_policy`,
the same one that checked callback_url at create time and that the http component uses)
and connects only to the addresses it checked; a target the policy refuses ends the record
at once (failed, never retried), a name that does not resolve is retried like any other
failure. Redirects are not followed.

Each dispatch is numbered (`resends`); its messages carry the number, and an attempt is
claimed with a compare-and-set on (status, resends, attempts), so a message that was only
late, or two schedulers resending at once, never make a second POST.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from typing import Any
from urllib.parse import urlencode

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import CallbackBody, CallbackStatus, TaskCallbackRecord, TaskInstance

logger = logging.getLogger("sops.tasks.callback")

MAX_ATTEMPTS = 6
BASE_DELAY_SECONDS = 2
REQUEST_TIMEOUT_SECONDS = 10
# While a POST is in flight its record is not overdue for this long (the request's timeout plus room).
IN_FLIGHT_SECONDS = REQUEST_TIMEOUT_SECONDS + 20
# A pending record this late past its due time has lost its message. Generous, because a message
# waiting in a busy queue is not lost: re-sending it would only push a fresh one to the queue's end.
RESEND_GRACE_SECONDS = 300
# Dispatches lost this many times end the record as failed rather than looping forever.
MAX_RESENDS = 3
RESEND_BATCH = 100


# The original's default body is a form; its newer callers ask for JSON with callback_version "v2".
CALLBACK_V2 = "v2"
CALLBACK_VERSIONS = ("", CALLBACK_V2)


def callback_body(task: TaskInstance, state: str) -> tuple[str, dict[str, Any]]:
    """(body format, payload) of one notification, as the original sends it.

    The default is form-encoded `task_id` and `task_success`, where `task_success` is written
    `True` or `False` (what the original's Python client puts in a form for a boolean);
    callback_version "v2" sends `{"task_id", "task_success", "callback_version", "task_outputs"}` as
    JSON, `task_outputs` (the run's outputs) only when they can be written as JSON.
    """
    success = state == "FINISHED"
    if task.callback_version != CALLBACK_V2:
        return CallbackBody.FORM, {"task_id": str(task.pk), "task_success": str(success)}
    payload: dict[str, Any] = {"task_id": task.pk, "task_success": success, "callback_version": CALLBACK_V2}
    outputs = _run_outputs(task)
    if outputs is not None:
        payload["task_outputs"] = outputs
    return CallbackBody.JSON, payload


def _run_outputs(task: TaskInstance) -> Any:
    if not task.run_id:
        return None
    from pipeline_engine import api  # late: the engine's models load with the apps

    summary = api.get_run_summaries([task.run_id]).get(task.run_id)
    outputs = getattr(summary, "outputs", None)
    try:
        json.dumps(outputs)
    except (TypeError, ValueError):
        return None
    return outputs


def queue_callback(task: TaskInstance, state: str, node_id: str = "") -> TaskCallbackRecord | None:
    """Record one notification (the run's end, or `node_id`'s failure) and queue its delivery on commit."""
    body_format, payload = callback_body(task, state)
    try:
        with transaction.atomic():
            record = TaskCallbackRecord.objects.create(
                task=task, url=task.callback_url, state=state, payload=payload, body_format=body_format,
                node_id=node_id, next_attempt_at=timezone.now())
    except IntegrityError:
        return None  # this final state was already reported
    _publish_after_commit(record.pk, record.resends)
    return record


def _dispatch(record_id: int, dispatch: int) -> None:
    """Queue one delivery message (a function of its own so tests can lose one)."""
    send_task_callback.apply_async((record_id, dispatch))


def _publish_after_commit(record_id: int, dispatch: int) -> None:
    """Queue the message once the record is committed, by the engine's rule for such messages: a
    broker that cannot take it is logged, never raised (the record says the delivery is due, and
    `resend_stuck` dispatches it again)."""
    from pipeline_engine import api

    api.publish_after_commit(f"callback {record_id} dispatch {dispatch}",
                             functools.partial(_dispatch, record_id, dispatch))


def backoff(attempt: int) -> int:
    """2, 4, 8, 16, 32 s between the six attempts."""
    return BASE_DELAY_SECONDS * (2 ** max(0, attempt - 1))


def attempt_delivery(record_id: int, dispatch: int | None = None) -> int | None:
    """Try one POST; answer the delay before the next try, or None when done (delivered, given up, or
    the message is stale: a later dispatch owns the record). `dispatch` None is a message queued
    before dispatches were numbered; it is accepted."""
    with transaction.atomic():
        record = TaskCallbackRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None or record.status != CallbackStatus.PENDING:
            return None
        if dispatch is not None and dispatch != record.resends:
            logger.info("callback %s: dropping a message of dispatch %s (now %s)", record_id, dispatch,
                        record.resends)
            return None
        now = timezone.now()
        # Compare-and-set, not just the row lock: SQLite has no row locks, and a resend may have
        # committed between our read and this write.
        claimed = TaskCallbackRecord.objects.filter(
            pk=record_id, status=CallbackStatus.PENDING, resends=record.resends, attempts=record.attempts,
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + dt.timedelta(seconds=IN_FLIGHT_SECONDS),
                 updated_at=now)
        if not claimed:
            return None
        attempt = record.attempts + 1
        url, payload, body_format = record.url, record.payload, record.body_format

    status_code, error, permanent = _post(url, payload, body_format)
    if permanent:
        attempt = MAX_ATTEMPTS

    done = not error
    if done:
        status = CallbackStatus.SUCCESS
    elif attempt >= MAX_ATTEMPTS:
        status = CallbackStatus.FAILED
    else:
        status = CallbackStatus.PENDING
    now = timezone.now()
    delay = backoff(attempt) if status == CallbackStatus.PENDING else None
    TaskCallbackRecord.objects.filter(pk=record_id).update(
        status=status, last_status_code=status_code, last_error=error, updated_at=now,
        next_attempt_at=now + dt.timedelta(seconds=delay) if delay is not None else None)
    if status == CallbackStatus.PENDING:
        logger.info("callback %s to %s failed (attempt %s): %s", record_id, url, attempt, error)
        return delay
    if status == CallbackStatus.FAILED:
        logger.warning("callback %s to %s given up after %s attempts: %s", record_id, url, attempt, error)
    return None


def encode_body(payload: dict[str, Any], body_format: str) -> tuple[str, bytes]:
    """(content type, bytes) of a payload in its format."""
    if body_format == CallbackBody.FORM:
        return "application/x-www-form-urlencoded", urlencode(payload).encode("ascii")
    return "application/json", json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _post(url: str, payload: dict[str, Any], body_format: str = CallbackBody.JSON) -> tuple[int | None, str, bool]:
    """One POST through the egress policy: (status code, error text or "", whether to give up now).
    A function of its own so tests can stand in for a receiver that is busy answering."""
    import requests

    from pipeline_engine import api  # late: the engine's models load with the apps

    content_type, body = encode_body(payload, body_format)
    try:
        with api.EgressSession(api.egress_policy(), max_redirects=0) as session:
            with session.request("POST", url, headers={"Content-Type": content_type}, data=body,
                                 timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False,
                                 label="callback_url") as response:
                status_code = response.status_code
                if 200 <= status_code < 300:
                    return status_code, "", False
                text = next(response.iter_content(500, decode_unicode=False), b"")
                return status_code, f"HTTP {status_code}: {text.decode('utf-8', 'replace')}", False
    except api.EgressRefused as exc:
        # The policy or the allowlist may have changed since the task was created, or the name
        # now resolves elsewhere: never send there; retry only what may pass later (DNS).
        return None, f"refused: {exc}"[:1000], exc.permanent
    except api.EgressConfigError as exc:
        return None, f"refused: {exc}"[:1000], True
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:1000], False


def resend_grace_seconds() -> float:
    return float(getattr(settings, "SOPS_CALLBACK_RESEND_GRACE_SECONDS", RESEND_GRACE_SECONDS))


def resend_stuck(now: dt.datetime | None = None, *, grace_seconds: float | None = None,
                 limit: int = RESEND_BATCH) -> int:
    """Dispatch again the pending records whose next attempt is overdue by more than the grace period.

    Safe to run from any number of schedulers at once: rows another one holds are skipped
    (SKIP LOCKED where the database has it), and each re-dispatch is a compare-and-set on
    `resends`, so one record is re-dispatched once per overdue period whoever runs this.
    A record whose attempts or re-dispatches are used up is marked failed. Answers how many
    records were re-dispatched.
    """
    now = now or timezone.now()
    grace = resend_grace_seconds() if grace_seconds is None else grace_seconds
    cutoff = now - dt.timedelta(seconds=grace)
    pending = TaskCallbackRecord.objects.filter(status=CallbackStatus.PENDING, next_attempt_at__lt=cutoff)
    resent: list[tuple[int, int]] = []
    with transaction.atomic():
        rows = list(pending.select_for_update(skip_locked=True).order_by("next_attempt_at")
                    .values_list("pk", "attempts", "resends")[:limit])
        for pk, attempts, resends in rows:
            mine = pending.filter(pk=pk, attempts=attempts, resends=resends)
            if attempts >= MAX_ATTEMPTS or resends >= MAX_RESENDS:
                # A worker died during the last attempt, or the messages keep vanishing: stop here.
                mine.update(status=CallbackStatus.FAILED, updated_at=now, next_attempt_at=None,
                            last_error=f"given up: delivery messages lost ({attempts} attempts, "
                                       f"{resends} re-dispatches)")
                logger.warning("callback %s given up: messages lost (%s attempts, %s re-dispatches)",
                               pk, attempts, resends)
                continue
            if mine.update(resends=F("resends") + 1, next_attempt_at=now, updated_at=now):
                resent.append((pk, resends + 1))
        for pk, dispatch in resent:
            logger.info("callback %s re-dispatched (dispatch %s): its message was lost", pk, dispatch)
            _publish_after_commit(pk, dispatch)
    return len(resent)


# --- Celery tasks (tasks_app/tasks.py imports them so that workers find them) ----------------------------

@shared_task(name="tasks_app.send_task_callback", ignore_result=True, acks_late=True)
def send_task_callback(record_id: int, dispatch: int | None = None) -> None:
    """One delivery attempt; a failed one queues the next after its backoff."""
    delay = attempt_delivery(record_id, dispatch)
    if delay is not None:
        # A fresh message per attempt (not Celery's retry) so the record, not the broker, counts attempts.
        # The attempt is committed (attempt_delivery's own transaction): publish now, by the same rule.
        from pipeline_engine import api

        api.publish(f"callback {record_id} attempt after {delay}s",
                    functools.partial(send_task_callback.apply_async, (record_id, dispatch), countdown=delay))


@shared_task(name="tasks_app.resend_stuck_callbacks", ignore_result=True)
def resend_stuck_callbacks() -> int:
    """`resend_stuck` for deployments that schedule it through Celery (run_scheduler calls it directly)."""
    return resend_stuck()
