"""The response envelope every endpoint answers with."""
from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from .errors import SUCCESS


def envelope(result: bool, data: Any = None, message: str = "", code: int = SUCCESS, status: int = 200,
             **extra: Any) -> JsonResponse:
    body = {"result": result, "data": data, "message": message, "code": code, **extra}
    response = JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
    response.envelope_code = code  # read by metrics without parsing the body again
    return response


def ok(data: Any = None, message: str = "success", **extra: Any) -> JsonResponse:
    return envelope(True, data, message, SUCCESS, **extra)


def fail(message: str, code: int, status: int = 200, data: Any = None) -> JsonResponse:
    return envelope(False, data, message, code, status=status)
