"""Celery tasks of the tasks app."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks_app.send_task_callback", ignore_result=True, acks_late=True)
def send_task_callback(record_id: int, dispatch: int | None = None) -> None:
    from .callbacks import attempt_delivery

    delay = attempt_delivery(record_id, dispatch)
    if delay is not None:
        # A fresh message per attempt (not Celery's retry) so the record, not the broker, counts attempts.
        send_task_callback.apply_async((record_id, dispatch), countdown=delay)


@shared_task(name="tasks_app.resend_stuck_callbacks", ignore_result=True)
def resend_stuck_callbacks() -> int:
    """Re-dispatch callback records whose message was lost (run_scheduler calls the function directly;
    this task is for deployments that schedule it through Celery instead)."""
    from .callbacks import resend_stuck

    return resend_stuck()
