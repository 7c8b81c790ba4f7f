import logging

from django.apps import AppConfig

logger = logging.getLogger("sops.tasks")


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Tasks"

    def ready(self) -> None:
        try:
            from pipeline_engine import signals
        except ImportError:  # the engine is optional only while it is being written
            logger.warning("pipeline_engine.signals is missing: tasks will not see their runs end")
            return
        from .receivers import on_run_finished

        signals.run_finished.connect(on_run_finished, dispatch_uid="tasks_app.on_run_finished")
