"""Telling a task's creator that its run ended: one POST to callback_url, retried with backoff.

A record is written in the transaction that observes the end, and the Celery task is
queued on commit, so a notification is never sent for a change that rolled back and
never lost because a worker died between the two (the record stays `pending`).
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from sops_api.apigw.timefmt import format_time

from .models import CallbackStatus, TaskCallbackRecord, TaskInstance

logger = logging.getLogger("sops.tasks.callback")

MAX_ATTEMPTS = 6
BASE_DELAY_SECONDS = 2
REQUEST_TIMEOUT_SECONDS = 10


def callback_payload(task: TaskInstance, state: str) -> dict[str, Any]:
    tz = task.business.tzinfo
    return {
        "task_id": task.pk,
        "task_url": task.url,
        "bk_biz_id": task.business.bk_biz_id,
        "name": task.name,
        "state": state,
        "is_finished": task.is_finished,
        "is_revoked": task.is_revoked,
        "start_time": format_time(task.start_time, tz, empty=None),
        "finish_time": format_time(task.finish_time, tz, empty=None),
        "reported_at": format_time(timezone.now(), tz),
    }


def queue_callback(task: TaskInstance, state: str) -> TaskCallbackRecord | None:
    try:
        with transaction.atomic():
            record = TaskCallbackRecord.objects.create(
                task=task, url=task.callback_url, state=state, payload=callback_payload(task, state))
    except IntegrityError:
        return None  # this final state was already reported
    from .tasks import send_task_callback

    transaction.on_commit(lambda: send_task_callback.delay(record.pk))
    return record


def backoff(attempt: int) -> int:
    """2, 4, 8, 16, 32 s between the six attempts."""
    return BASE_DELAY_SECONDS * (2 ** max(0, attempt - 1))


def attempt_delivery(record_id: int) -> int | None:
    """Try one POST; answer the delay before the next try, or None when done (delivered or given up)."""
    import requests

    from .services import host_allowed

    with transaction.atomic():
        record = TaskCallbackRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None or record.status != CallbackStatus.PENDING:
            return None
        record.attempts += 1
        attempt = record.attempts
        url, payload = record.url, record.payload
        record.save(update_fields=["attempts", "updated_at"])

    status_code: int | None = None
    error = ""
    host = urlsplit(url).hostname or ""
    if not host_allowed(host):
        # The allowlist may have shrunk since the task was created: never send, never retry.
        error = f"host {host} is not in SOPS_HTTP_ALLOWLIST"
        attempt = MAX_ATTEMPTS
    else:
        try:
            response = requests.post(url, json=payload, timeout=REQUEST_TIMEOUT_SECONDS, allow_redirects=False)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:500]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]

    done = not error
    if done:
        status = CallbackStatus.SUCCESS
    elif attempt >= MAX_ATTEMPTS:
        status = CallbackStatus.FAILED
    else:
        status = CallbackStatus.PENDING
    TaskCallbackRecord.objects.filter(pk=record_id).update(
        status=status, last_status_code=status_code, last_error=error, updated_at=timezone.now())
    if status == CallbackStatus.PENDING:
        logger.info("callback %s to %s failed (attempt %s): %s", record_id, url, attempt, error)
        return backoff(attempt)
    if status == CallbackStatus.FAILED:
        logger.warning("callback %s to %s given up after %s attempts: %s", record_id, url, attempt, error)
    return None
