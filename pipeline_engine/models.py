"""Django discovers the engine's tables here; they live in runtime.models.

Importing the Celery tasks here registers them in every process that sets up
Django (web, worker, scheduler) without relying on autodiscovery.
"""
from pipeline_engine.runtime import tasks as _tasks  # noqa: F401
from pipeline_engine.runtime.models import NodeHistory, NodeLog, NodeState, Run

__all__ = ["NodeHistory", "NodeLog", "NodeState", "Run"]
