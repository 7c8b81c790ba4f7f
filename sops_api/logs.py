"""Structured log lines: one JSON object per line, carrying who asked for what, with no secret.

`bind(**fields)` attaches fields to every line logged by the current request
or Celery task (the web layer binds path, method, app_code and user; the
engine binds run_id and node_id). `RequestContextMiddleware` starts a fresh
context per request, so nothing leaks from one request to the next.

Redaction: callers send `app_secret`, `bk_app_secret`, `bk_token` and
`access_token` in query strings, JSON and form bodies and the
`X-Bkapi-Authorization` header (the spec's own examples put them in the URL).
`redact_text` masks their values in any text (key=value, JSON, Python reprs,
percent-encoded JSON query strings); `RedactingFilter` applies it to every
application log line (message, arguments, extra fields, exception text), the
gunicorn logger class in gunicorn_conf.py to the access and error logs, and
`SecretsReporterFilter` to Django's error reports.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

from django.http import HttpRequest, HttpResponse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

MAX_FIELD_CHARS = 1000
MASK = "***"

#: Parameters whose values are credentials (app_code and the user name are not: they stay visible).
SECRET_PARAMS = frozenset({"app_secret", "bk_app_secret", "bk_token", "access_token"})
#: Headers whose whole value is a credential, as HTTP names and as WSGI environ keys (set-cookie: a
#: response's, which carries a new session id to a browser that logs in).
SECRET_HEADERS = frozenset({"x-bkapi-authorization", "http_x_bkapi_authorization", "authorization",
                            "http_authorization", "cookie", "http_cookie", "set-cookie"})

_QUOTE = r"""(?:\\?"|'|%22|%27)"""
_SEP = r"(?:\s|%20|\+)*(?::|%3A|=)(?:\s|%20|\+)*"
# A key, possibly quoted or percent-encoded ("app%5Fsecret"), its separator, then its value:
# a quoted string up to the same quote, or a bare token up to a delimiter.
# A parameter's bare value ends at a delimiter; a header's (a JSON object, say) at the end of the line.
_QUOTED = rf"(?P<q>{_QUOTE})(?:\\.|.)*?(?P=q)"


def _key_pattern(names: frozenset[str]) -> str:
    return "|".join(re.escape(n).replace("_", "(?:_|%5[Ff])").replace("\\-", "(?:-|_)") for n in sorted(names))


def _secret_pattern(names: frozenset[str], bare: str) -> re.Pattern[str]:
    return re.compile(rf"(?P<key>{_QUOTE}?(?<![A-Za-z_])(?:{_key_pattern(names)}){_QUOTE}?{_SEP})"
                      rf"(?:{_QUOTED}|{bare})", re.IGNORECASE)


_SECRET_PATTERNS = (_secret_pattern(SECRET_HEADERS, r"[^\r\n]+"),
                    _secret_pattern(SECRET_PARAMS, r"[^\s&,;}\]\)\"']+"))
_READABLE_IN_QUERY = ' {}[]":,*=&/'
# Cheap pre-check: most lines mention none of these and skip the regular expression.
_HINTS = ("secret", "token", "auth", "cookie", "%5f")

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


def _mask_match(match: re.Match[str]) -> str:
    quote = match.group("q")
    return f"{match.group('key')}{quote}{MASK}{quote}" if quote else f"{match.group('key')}{MASK}"


def redact_text(text: str) -> str:
    """`text` with the value of every credential parameter or header masked."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_mask_match, text)
    return text


def redact_query(query: str) -> str:
    """A query string with credential values masked: an ordinary one is parsed and re-encoded
    (so a percent-encoded key name is caught too), a JSON one is masked as text after decoding."""
    if not query:
        return query
    decoded = unquote_plus(query)
    if decoded.lstrip().startswith("{"):
        masked = redact_text(decoded)
        # Re-encoded, so no decoded control character (%0A) can forge a log line.
        return redact_text(query) if masked == decoded else quote(masked, safe=_READABLE_IN_QUERY)
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() in SECRET_PARAMS for key, _ in pairs):
        return urlencode([(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return redact_text(query)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of a logged value (text, dict, list) with credentials masked."""
    if isinstance(value, str):
        return redact_text(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and k.lower() in SECRET_PARAMS | SECRET_HEADERS
                    else redact_value(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, depth + 1) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Masks credentials in a record before any handler formats it.

    The message is formatted once and frozen (args dropped), extra fields are masked, and an
    exception's text is formatted and masked now, since exception messages may quote a request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's problem, not a leak
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        for key, value in list(vars(record).items()):
            if key not in _RESERVED and not key.startswith("_") and not isinstance(value, int | float | bool | None):
                setattr(record, key, redact_value(value if isinstance(value, str | dict | list | tuple)
                                                  else str(value)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Django's error reports (DEBUG page, admin mails) without credentials: the query string,
    the credential headers and POST parameters are masked whatever view raised."""

    cleansed_substitute = MASK
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|BROKER_URL", flags=re.I)

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        for key in list(meta):
            if key.lower() in SECRET_HEADERS:
                meta[key] = MASK
            elif key in ("QUERY_STRING", "RAW_URI", "REQUEST_URI"):
                meta[key] = redact_query(str(meta[key]))
        return meta

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if request is None or not any(key.lower() in SECRET_PARAMS for key in params):
            return params
        params = params.copy()
        for key in params:
            if key.lower() in SECRET_PARAMS:
                params[key] = MASK
        return params


class SecretsExceptionReporter(ExceptionReporter):
    """Django's error report with the parts its filter does not cover masked too: the request
    URI, the GET parameters, the exception's message and the frames' variables (as rendered:
    a request's repr quotes its query string)."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is not None:
            path, sep, query = data["request_insecure_uri"].partition("?")
            data["request_insecure_uri"] = f"{path}{sep}{redact_query(query)}"
            data["request_GET_items"] = [(k, MASK if k.lower() in SECRET_PARAMS else redact_text(v))
                                         for k, v in data["request_GET_items"]]
        if "exception_value" in data:
            data["exception_value"] = redact_text(data["exception_value"])
        for frame in data["frames"]:
            frame["vars"] = [(name, redact_text(value) if isinstance(value, str) else value)
                             for name, value in frame.get("vars", [])]
        return data


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
        if record.exc_text:
            line["exc"] = record.exc_text  # the traceback as RedactingFilter masked it
        elif record.exc_info:
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
