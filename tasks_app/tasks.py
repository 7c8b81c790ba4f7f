"""Celery tasks of the tasks app."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks_app.send_task_callback", ignore_result=True, acks_late=True)
def send_task_callback(record_id: int) -> None:
    from .callbacks import attempt_delivery

    delay = attempt_delivery(record_id)
    if delay is not None:
        # A fresh message per attempt (not Celery's retry) so the record, not the broker, counts attempts.
        send_task_callback.apply_async((record_id,), countdown=delay)
