"""Lazy access to the few Django settings components read.

`pipeline_engine.core` must import and run without Django configured (the
core tests, tools). Settings are therefore read at call time, and an
unconfigured Django simply yields the default. Tests may pin values with
`override(...)` without touching Django at all.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_overrides: dict[str, Any] = {}


def setting(name: str, default: Any = None) -> Any:
    """The value of Django setting `name`, or `default` when unavailable."""
    if name in _overrides:
        return _overrides[name]
    try:
        from django.conf import settings
    except ImportError:
        return default
    try:
        # `configured` is False until first access even when the settings
        # module is known from the environment, so check both.
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return default
        return getattr(settings, name, default)
    except Exception:  # ImproperlyConfigured or a broken settings module
        return default


@contextmanager
def override(**values: Any) -> Iterator[None]:
    """Pin settings for the duration of a block (tests, tools)."""
    saved = {key: _overrides[key] for key in values if key in _overrides}
    _overrides.update(values)
    try:
        yield
    finally:
        for key in values:
            _overrides.pop(key, None)
        _overrides.update(saved)
