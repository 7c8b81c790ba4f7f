"""Small helpers to read component inputs the way templates write them.

Inputs arrive rendered but loosely typed: numbers are often strings ("30"),
empty fields are "" and some components accept two spellings of a key
(`job_content` and `content`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def first(inputs: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    """The first of `keys` present with a non-empty value."""
    for key in keys:
        value = inputs.get(key)
        if value is not None and value != "":
            return value
    return default


def number(value: Any, *, field: str) -> float:
    """A float from an int, float or numeric string; ValueError says which field."""
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number, not a boolean")
    result: float | None = None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            result = None
    if result is None or not math.isfinite(result):
        raise ValueError(f"{field} must be a number, got {value!r}")
    return result
