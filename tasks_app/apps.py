from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Tasks"

    def ready(self) -> None:
        # The engine tells the end of every run; the task mirrors it (and tells its callback_url).
        from pipeline_engine import signals

        from .receivers import on_node_failed, on_run_ending, on_run_finished

        signals.run_finished.connect(on_run_finished, dispatch_uid="tasks_app.on_run_finished")
        signals.run_ending.connect(on_run_ending, dispatch_uid="tasks_app.on_run_ending")
        signals.node_failed.connect(on_node_failed, dispatch_uid="tasks_app.on_node_failed")
