"""Reading parameters the way the spec's examples send them.

- GET with an ordinary query string (`requests.get(url, kwargs)`);
- GET whose whole query string is a JSON document (`requests.get(url, json.dumps(kwargs))`);
- POST with a JSON body, with or without a JSON content type
  (`requests.post(url, json.dumps(kwargs))` sends none);
- POST with a form body.
Later sources override earlier ones: query string, then body.

Whatever the style, the limits of `limits.py` hold: body size, field count, JSON
depth, storable text; a request outside them is refused with 3540000 here,
before any view code runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError

from sops_common import limits
from sops_common.errors import InvalidInput


def _json_query(request: HttpRequest) -> dict[str, Any] | None:
    raw = request.META.get("QUERY_STRING", "")
    if not raw:
        return None
    text = unquote_plus(raw).strip()
    if not text.startswith("{"):
        return None
    try:
        value = limits.loads(text, "the query string", check=False)
    except ValueError:
        # `requests` percent-encodes only some characters; try the raw form too.
        try:
            value = limits.loads(raw, "the query string", check=False)
        except ValueError:
            return None
    return _checked_fields(value) if isinstance(value, dict) else None


def _flatten(query: QueryDict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in query:
        values = query.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def _checked_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Check each field against the limits, naming it; fields sit one level below the document."""
    for key, value in params.items():
        limits.check_value(key, "a parameter name")
        limits.check_value(value, f"parameter {limits.shown(key)}", depth=2)
    return params


def read_query_params(request: HttpRequest) -> dict[str, Any]:
    """The query string's parameters alone (an ordinary query, or one that is a JSON document)."""
    as_json = _json_query(request)
    if as_json is not None:
        return as_json
    try:
        return _checked_fields(_flatten(request.GET))
    except SuspiciousOperation as exc:
        raise limits.refusal_for(exc) from exc


def _read_body(request: HttpRequest) -> bytes:
    try:
        return limits.check_body_size(request.body)
    except SuspiciousOperation as exc:
        raise limits.refusal_for(exc) from exc


def _form_fields(request: HttpRequest) -> dict[str, Any]:
    try:
        return _checked_fields(_flatten(request.POST))
    except SuspiciousOperation as exc:
        raise limits.refusal_for(exc) from exc
    except MultiPartParserError as exc:
        raise InvalidInput(f"the form body cannot be read: {limits.shown(str(exc))}") from exc


def read_params(request: HttpRequest) -> dict[str, Any]:
    params = read_query_params(request)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = _read_body(request)
        if body and body.strip():
            content_type = request.content_type or ""
            if content_type in ("application/x-www-form-urlencoded", "multipart/form-data") and not body.lstrip().startswith(b"{"):
                params.update(_form_fields(request))
            else:
                try:
                    value = limits.loads(body, "the request body", check=False)
                except ValueError as exc:  # UnicodeDecodeError included
                    raise InvalidInput("invalid json format: the request body is not a JSON object") from exc
                if not isinstance(value, dict):
                    raise InvalidInput("request body must be a JSON object")
                params.update(_checked_fields(value))
    return params


_MEMO = "_apigw_params"


@dataclass(frozen=True)
class RequestParams:
    """A request's parameters as read once: `body_error` says the body could not be read,
    and `values` then hold the query string's parameters alone."""

    values: dict[str, Any]
    body_error: InvalidInput | None = None


def request_params(request: HttpRequest) -> RequestParams:
    """The request's parameters, read once per request (the view and the authentication both need them)."""
    cached: RequestParams | None = getattr(request, _MEMO, None)
    if cached is None:
        try:
            cached = RequestParams(read_params(request))
        except InvalidInput as exc:
            cached = RequestParams(read_query_params(request), exc)
        setattr(request, _MEMO, cached)  # noqa: B010 - memoised on Django's request object
    return cached


def json_param(params: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """A parameter that may arrive as a JSON string (query strings) or as a value (JSON bodies)."""
    value = params.get(name, default)
    if isinstance(value, str) and kind is not str and (not isinstance(kind, tuple) or str not in kind):
        try:
            value = limits.loads(value, name)
        except ValueError as exc:
            raise InvalidInput(f"{name} is not valid JSON") from exc
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InvalidInput(f"{name} must be a {names}")
    return value


def str_param(params: dict[str, Any], name: str, default: str = "") -> str:
    """A text parameter; a number is taken as its text, an object or a list is refused."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{name} must be a string")
    return str(value)


def str_list_param(params: dict[str, Any], name: str) -> list[str]:
    """A list of texts (node ids, say), as a JSON array or JSON text, at most limits.max_list_items()."""
    value = limits.check_list(json_param(params, name, list, []) or [], name)
    if not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"{name} must be a list of strings")
    return value


def bool_param(params: dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off", ""):
            return False
    raise InvalidInput(f"{name} must be a boolean")


def int_param(params: dict[str, Any], name: str, default: int | None = None, *, minimum: int | None = None,
              maximum: int = limits.MAX_ID) -> int | None:
    """An integer written with ASCII digits, inside [minimum, maximum] (see limits.parse_int)."""
    value = params.get(name, default)
    if value is None or value == "":
        return default
    return limits.parse_int(value, name, minimum=minimum, maximum=maximum)


def paging_params(params: dict[str, Any], *, default_limit: int, max_limit: int) -> tuple[int, int]:
    """`offset` (0 to limits.MAX_OFFSET) and `limit` (1 to max_limit) of a paged list."""
    offset = int_param(params, "offset", 0, minimum=0, maximum=limits.MAX_OFFSET)
    limit = int_param(params, "limit", default_limit, minimum=1, maximum=max_limit)
    return offset or 0, limit or default_limit
