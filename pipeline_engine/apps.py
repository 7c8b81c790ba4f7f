"""The engine's Django app: its tables (runtime.models) and what it sets up at start."""
from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings

from pipeline_engine.core.components import config as component_config


def _django_setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


class PipelineEngineConfig(AppConfig):
    name = "pipeline_engine"
    verbose_name = "Pipeline engine"

    def ready(self) -> None:
        # The core never imports Django: components read Django's settings through this source.
        component_config.use_source(_django_setting)
