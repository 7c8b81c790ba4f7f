from django.apps import AppConfig


class PipelineEngineConfig(AppConfig):
    name = "pipeline_engine"
    verbose_name = "Pipeline engine"
