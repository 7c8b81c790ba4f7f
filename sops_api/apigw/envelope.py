"""The response envelope every endpoint answers with."""
from __future__ import annotations

import json
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, JsonResponse

from .errors import SUCCESS

# What orjson would write differently from Django's encoder raises instead, and goes to it:
# datetimes (Django trims them to milliseconds), dataclasses, and subclasses of str, int, dict
# and list (choices' members, lazy strings). Keys that are not strings and integers beyond 64
# bits raise too.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def envelope_bytes(body: dict[str, Any]) -> bytes:
    """`body` as UTF-8 JSON, as JsonResponse(json_dumps_params={"ensure_ascii": False}) writes it
    but for layout (no space after separators) and a NaN or infinite float, which is written null
    (JSON has no such number). orjson writes a 1,000-node status in 0.24 ms where Django's encoder
    takes 5.4 ms; what it refuses is written by Django's encoder."""
    try:
        return orjson.dumps(body, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False).encode()


class EnvelopeResponse(JsonResponse):
    """A JSON envelope that remembers its code, so metrics need not parse the body again."""

    def __init__(self, body: dict[str, Any], *, code: int, status: int) -> None:
        # JsonResponse's own __init__ would encode the body again with the standard library.
        HttpResponse.__init__(self, envelope_bytes(body), content_type="application/json", status=status)
        self.envelope_code = code


def envelope(result: bool, data: Any = None, message: str = "", code: int = SUCCESS, status: int = 200,
             **extra: Any) -> EnvelopeResponse:
    body = {"result": result, "data": data, "message": message, "code": code, **extra}
    return EnvelopeResponse(body, code=code, status=status)


def ok(data: Any = None, message: str = "success", **extra: Any) -> EnvelopeResponse:
    return envelope(True, data, message, SUCCESS, **extra)


def fail(message: str, code: int, status: int = 200, data: Any = None) -> EnvelopeResponse:
    return envelope(False, data, message, code, status=status)
