"""Engine-core tests: plain Python, no database, no Celery.

They run with or without pytest-django (`-p no:django`). Settings the
components read are pinned through `config.override`, never through Django.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline_engine.core import settings as config


@pytest.fixture(autouse=True)
def _clean_setting_overrides() -> Iterator[None]:
    saved = dict(config._overrides)
    yield
    config._overrides.clear()
    config._overrides.update(saved)
