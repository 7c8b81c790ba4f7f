"""The Celery tasks of tasks_app: one delivery attempt per message, and the re-dispatch entry point."""
from __future__ import annotations

import pytest

from tasks_app import callbacks, tasks


def test_a_failed_attempt_queues_the_next_one_with_its_delay(monkeypatch):
    queued: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(callbacks, "attempt_delivery", lambda record_id, dispatch: 4)
    monkeypatch.setattr(tasks.send_task_callback, "apply_async", lambda args, **kw: queued.append((args, kw)))
    tasks.send_task_callback(7, 2)
    assert queued == [((7, 2), {"countdown": 4})]


def test_a_finished_delivery_queues_nothing(monkeypatch):
    monkeypatch.setattr(callbacks, "attempt_delivery", lambda record_id, dispatch: None)
    monkeypatch.setattr(tasks.send_task_callback, "apply_async", lambda *a, **k: pytest.fail("queued again"))
    tasks.send_task_callback(7, 2)


@pytest.mark.django_db
def test_resend_stuck_callbacks_runs_resend_stuck():
    assert tasks.resend_stuck_callbacks() == 0  # nothing pending
