"""Structured log lines: one JSON object per line, carrying who asked for what.

`bind(**fields)` attaches fields to every line logged by the current request
or Celery task (the web layer binds path, method, app_code and user; the
engine binds run_id and node_id). `RequestContextMiddleware` starts a fresh
context per request, so nothing leaks from one request to the next.
"""
from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse

MAX_FIELD_CHARS = 1000

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("sops_log_context", default=None)

# Record attributes that are logging's own; anything else passed as `extra=` is emitted.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def bind(**fields: Any) -> None:
    """Add fields to every later log line of this request or task."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    _context.set(current)


def clear() -> None:
    _context.set(None)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Fields for the duration of a block (a Celery task, a scheduler tick)."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                if not isinstance(value, str | int | float | bool | None):
                    value = str(value)
                # Celery passes whole task payloads as `data`: keep lines readable.
                if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                    value = value[:MAX_FIELD_CHARS] + "…"
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        token = _context.set({"request_id": request_id, "method": request.method, "path": request.path})
        try:
            response = self.get_response(request)
        finally:
            _context.reset(token)
        response["X-Request-Id"] = request_id
        return response
