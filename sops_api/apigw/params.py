"""Reading parameters the way the spec's examples send them.

- GET with an ordinary query string (`requests.get(url, kwargs)`);
- GET whose whole query string is a JSON document (`requests.get(url, json.dumps(kwargs))`);
- POST with a JSON body, with or without a JSON content type
  (`requests.post(url, json.dumps(kwargs))` sends none);
- POST with a form body.
Later sources override earlier ones: query string, then body.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from django.http import HttpRequest, QueryDict

from sops_common.errors import InvalidInput


def _json_query(request: HttpRequest) -> dict[str, Any] | None:
    raw = request.META.get("QUERY_STRING", "")
    if not raw:
        return None
    text = unquote_plus(raw).strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        # `requests` percent-encodes only some characters; try the raw form too.
        try:
            value = json.loads(raw)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _flatten(query: QueryDict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in query:
        values = query.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def read_query_params(request: HttpRequest) -> dict[str, Any]:
    """The query string's parameters alone (an ordinary query, or one that is a JSON document)."""
    as_json = _json_query(request)
    return as_json if as_json is not None else _flatten(request.GET)


def read_params(request: HttpRequest) -> dict[str, Any]:
    params = read_query_params(request)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = request.body
        if body and body.strip():
            content_type = request.content_type or ""
            if content_type in ("application/x-www-form-urlencoded", "multipart/form-data") and not body.lstrip().startswith(b"{"):
                params.update(_flatten(request.POST))
            else:
                try:
                    value = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise InvalidInput("invalid json format: the request body is not a JSON object") from exc
                if not isinstance(value, dict):
                    raise InvalidInput("request body must be a JSON object")
                params.update(value)
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
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput(f"{name} is not valid JSON") from exc
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InvalidInput(f"{name} must be a {names}")
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
              maximum: int | None = None) -> int | None:
    value = params.get(name, default)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be an integer") from exc
    if minimum is not None and number < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise InvalidInput(f"{name} must be at most {maximum}")
    return number
