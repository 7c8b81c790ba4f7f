"""The settings the core reads, from a source the host application installs.

`pipeline_engine.core` runs without Django (the core tests, tools), so it
never imports it: the Django app installs Django's settings as the source when
it starts (PipelineEngineConfig.ready), and without a source every setting
is its default. Tests may pin values with `override(...)` without touching
Django at all. A leaf module: every part of the core may read settings
(components through components.config, which re-exports these).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Source = Callable[[str, Any], Any]

_overrides: dict[str, Any] = {}
_source: Source | None = None


def use_source(source: Source | None) -> None:
    """Read settings through `source(name, default)` from now on (None: defaults only)."""
    global _source
    _source = source


def setting(name: str, default: Any = None) -> Any:
    """The value of setting `name`, or `default` when unavailable."""
    if name in _overrides:
        return _overrides[name]
    if _source is None:
        return default
    try:
        return _source(name, default)
    except Exception:  # noqa: BLE001 - an unconfigured or broken settings module
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
