"""The base of every input serializer: it validates a request's merged parameters, or answers why not.

`Input.parse(params)` returns the validated values, or raises InvalidInput (code 3540000)
whose message names the parameter: the field's own message where it has one (the
original's wording, or a domain rule's, or any message that starts with the name), else "<name> is required", "<name> may not be
null", or "<name>: <what DRF says>". The first wrong parameter in declaration order is
the one reported, so a serializer lists its fields in the order the original checked them.
"""
from __future__ import annotations

import threading
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from sops_common.errors import InvalidInput

from .fields import NAMED

# How DRF's own failures read once the parameter is named.
_PHRASES = {"required": "{name} is required", "null": "{name} may not be null", "blank": "{name} may not be blank"}


class Input(serializers.Serializer):
    """Parameters of one endpoint. Unknown parameters (credentials among them) are ignored."""

    @classmethod
    def parse(cls, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(_validator(cls).run_validation(params))
        except serializers.ValidationError as exc:
            raise InvalidInput(first_message(exc.detail)) from exc


# One serializer per class and thread validates every request's parameters: building one per request
# deep-copies and binds its declared fields, ~0.5 ms of a create_task. `run_validation` keeps no state
# on the serializer (no initial_data, no errors), and no Input reads the request's context.
_validators = threading.local()


def _validator(cls: type[Input]) -> Input:
    cache: dict[type[Input], Input] | None = getattr(_validators, "by_class", None)
    if cache is None:
        cache = _validators.by_class = {}
    found = cache.get(cls)
    if found is None:
        found = cache[cls] = cls()
    return found


def first_message(errors: Any, name: str = "") -> str:
    """The message of the first error in `serializer.errors`, naming its parameter."""
    if isinstance(errors, dict):
        key, value = next(iter(errors.items()))
        # Errors inside a list or an object are reported under the parameter's own name.
        inner = name or ("" if key == api_settings.NON_FIELD_ERRORS_KEY else str(key))
        return first_message(value, inner)
    if isinstance(errors, list):
        return first_message(errors[0], name)
    code = getattr(errors, "code", None)
    if code == NAMED or not name or str(errors).startswith(f"{name} "):
        return str(errors)
    if code in _PHRASES:
        return _PHRASES[code].format(name=name)
    return f"{name}: {errors}"
