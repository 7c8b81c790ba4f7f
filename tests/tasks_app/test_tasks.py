"""Celery's autodiscovery finds the tasks of tasks_app (they are defined in callbacks.py)."""
from __future__ import annotations

from sops_api.celery import app


def test_the_worker_finds_both_tasks_by_name():
    app.loader.import_default_modules()  # what a worker does at start: import every app's tasks.py
    for name in ("tasks_app.send_task_callback", "tasks_app.resend_stuck_callbacks"):
        assert app.tasks[name].run.__module__ == "tasks_app.callbacks"
