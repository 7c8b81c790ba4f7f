"""The Celery tasks of tasks_app, where Celery's autodiscovery looks for them (they live in callbacks.py)."""
from __future__ import annotations

from .callbacks import resend_stuck_callbacks, send_task_callback

__all__ = ["resend_stuck_callbacks", "send_task_callback"]
