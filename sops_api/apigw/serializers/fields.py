"""The fields the gateway's serializers are made of: how each value is read, and how it is documented.

Input fields read the merged parameters of params.py. A query string or a form brings every
value as text, so an object or a list may arrive as JSON text, a boolean as "true" or "1", an
integer as digits; a JSON body brings them as values. Each field reads both with params.py's
helpers (`int_param`, `json_param`, `bool_param`: the request limits live there and nowhere
else) and fails with a message that names the parameter. An empty string counts as absent
for every field but text, as the helpers say.

Every field takes `example=` (the OpenAPI document shows it) and `error=` (one message for
every way the value can be wrong, where the original service has its own wording; `{value}`
in it is replaced by the value received). `schema=` adds to or replaces keys of the field's
JSON schema where the default mapping says too little (the properties of an object, say).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from sops_api.apigw.params import bool_param, int_param, json_param
from sops_common import limits
from sops_common.errors import InvalidInput

NO_EXAMPLE = object()
#: the ErrorDetail code of a message that already names its parameter (see serializers/base.py)
NAMED = "named"


def named_error(message: str) -> serializers.ValidationError:
    """A validation error whose message is complete: it is answered as written."""
    return serializers.ValidationError(message, code=NAMED)


class Documented:
    """The mixin of every field here: `example`, `error`, `schema`, and "" read as absent (but for text)."""

    blank_is_absent = True
    # Set by the DRF field this is mixed into.
    required: bool
    allow_null: bool
    field_name: str | None

    @property
    def name(self) -> str:
        return self.field_name or ""

    def __init__(self, *args: Any, example: Any = NO_EXAMPLE, error: str | None = None,
                 schema: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.example = example
        self.error = error
        self.schema_extra = schema or {}
        super().__init__(*args, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if self.blank_is_absent and data == "":
            data = empty
        if self.error is not None and ((data is empty and self.required) or (data is None and not self.allow_null)):
            raise named_error(self.error.format(value=data if data is not empty else ""))
        return super().validate_empty_values(data)  # type: ignore[misc]  # mixin: the base is a DRF Field

    def _null(self) -> Any:
        """The value null, where it was sent as JSON text: refused as a JSON null would be."""
        if not self.allow_null:
            self.fail("null")  # type: ignore[attr-defined]  # mixin: fail() is the Field's
        return None

    def run_validation(self, data: Any = empty) -> Any:
        try:
            return super().run_validation(data)  # type: ignore[misc]  # mixin: the base is a DRF Field
        except InvalidInput as exc:
            message = exc.message if self.error is None else self.error.format(value=data)
            raise named_error(message) from exc
        except serializers.ValidationError as exc:
            if self.error is None or _is_named(exc.detail):
                raise
            raise named_error(self.error.format(value=data)) from exc


def _is_named(detail: Any) -> bool:
    items = detail if isinstance(detail, list) else [detail]
    return all(getattr(item, "code", None) == NAMED for item in items)


# --- scalars ------------------------------------------------------------------------------------------

class String(Documented, serializers.CharField):
    """Text, kept as sent (no trimming); a JSON number is refused unless `strict=False` (then read as text)."""

    blank_is_absent = False

    def __init__(self, *, strict: bool = True, **kwargs: Any) -> None:
        self.strict = strict
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if self.strict and not isinstance(data, str):
            raise named_error(f"{self.name} must be a string")
        return super().to_internal_value(data)


class Choice(Documented, serializers.ChoiceField):
    """One of a few words; `error` (with `{value}`) says what the original answered for another.

    An optional one may be sent empty (read as absent): the document lists "" among its values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("required") is False or "default" in kwargs:
            kwargs.setdefault("allow_blank", True)
        super().__init__(*args, **kwargs)


class Integer(Documented, serializers.IntegerField):
    """An integer, from a JSON number or digits; `min_value`/`max_value` are documented and enforced."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise named_error(f"{self.name} must be an integer")
        number = int_param({self.name: data}, self.name, minimum=self.min_value,
                           maximum=limits.MAX_ID if self.max_value is None else self.max_value)
        assert number is not None  # "" was read as absent before
        return number


class Boolean(Documented, serializers.BooleanField):
    """A JSON true/false, or text: true/false, 1/0, yes/no, on/off (any case); a JSON number is refused."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool | str):
            raise named_error(f"{self.name} must be a boolean")
        return bool_param({self.name: data}, self.name)


class AnyValue(Documented, serializers.JSONField):
    """Any JSON value, passed on as received."""

    def to_internal_value(self, data: Any) -> Any:
        return data


# --- JSON objects and lists ---------------------------------------------------------------------------

class Object(Documented, serializers.DictField):
    """A JSON object (a query string or a form sends it as JSON text)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", serializers.JSONField())
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        value = json_param({self.name: data}, self.name, dict)
        if value is None:  # the JSON text "null"
            return self._null()
        return dict(value)


class List(Documented, serializers.ListField):
    """A JSON list (a query string or a form sends it as JSON text) whose items the child reads."""

    def to_internal_value(self, data: Any) -> Any:
        value = json_param({self.name: data}, self.name, list)
        if value is None:  # the JSON text "null"
            return self._null()
        return super().to_internal_value(limits.check_list(value, self.name))


# --- values read by a domain rule ---------------------------------------------------------------------

class Parsed(Documented, serializers.Field):
    """A value a domain function reads (and refuses with its own message); documented by `schema`."""

    def __init__(self, parse: Callable[[Any], Any], **kwargs: Any) -> None:
        self.parse = parse
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return self.parse(data)

    def to_representation(self, value: Any) -> Any:
        return value


# --- output only --------------------------------------------------------------------------------------

class Time(String):
    """A time as the service renders it: "YYYY-mm-dd HH:MM:SS +zzzz" in the business's zone."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("example", "2018-04-23 17:30:48 +0800")
        kwargs.setdefault("help_text", 'YYYY-mm-dd HH:MM:SS +zzzz in the business\'s time zone; "" when unset')
        super().__init__(**kwargs)
