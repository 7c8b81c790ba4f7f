"""`bk_http_request`: one HTTP request to a target the egress policy opens.

The target is checked by `pipeline_engine.core.egress` (public addresses open, internal
ones only when SOPS_HTTP_ALLOWLIST opens them; the syntax is documented there) and sent
through `egress_http.EgressSession`, which connects only to the addresses it checked and
checks every redirect again. The response body is read in chunks, bounded, and abandoned
as soon as the node is asked to stop.

Success is a 2xx status, or, when `bk_http_request_success_exp` is given,
that condition evaluated against `status_code` and `resp` (the parsed JSON
body, or its text), e.g. `${status_code} == 200 and ${resp.result} == True`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from pipeline_engine.core import egress
from pipeline_engine.core.components import config
from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from pipeline_engine.core.components.builtins._inputs import first, number
from pipeline_engine.core.components.registry import register
from pipeline_engine.core.conditions import evaluate_condition
from pipeline_engine.core.egress_http import EgressSession
from pipeline_engine.core.expressions import ExpressionError

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class RequestRefused(Exception):
    """The request breaks a rule checked before anything is sent."""


def egress_policy() -> egress.EgressPolicy:
    """The policy of the setting SOPS_HTTP_ALLOWLIST (no entries when Django is not configured)."""
    return config.egress_policy()


def _headers(raw: Any) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise RequestRefused("bk_http_request_header must be a list of {name, value} or a JSON object") from exc
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        headers = {}
        for item in raw:
            if not isinstance(item, Mapping) or "name" not in item:
                raise RequestRefused("each bk_http_request_header item needs a name and a value")
            name = str(item["name"]).strip()
            if name:
                headers[name] = str(item.get("value", ""))
        return headers
    raise RequestRefused("bk_http_request_header must be a list of {name, value} or a JSON object")


def _body(raw: Any) -> bytes | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, str):
        return raw.encode("utf-8")
    return json.dumps(raw, ensure_ascii=False).encode("utf-8")


def _read_bounded(response: requests.Response, ctx: ExecutionContext) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        if ctx.should_stop():
            raise RequestRefused("the node was stopped while the response was being read")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestRefused(f"the response body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@register
class HttpRequestComponent(Component):
    code = "bk_http_request"
    group = "BK"
    name = "HTTP request"
    inline = False
    inputs_format = [
        FieldSpec("bk_http_request_method", "Method", "string", required=True,
                  description="GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS."),
        FieldSpec("bk_http_request_url", "URL", "string", required=True,
                  description="http(s) URL; internal addresses only where SOPS_HTTP_ALLOWLIST opens them."),
        FieldSpec("bk_http_request_header", "Headers", "object",
                  description="A list of {name, value} or an object."),
        FieldSpec("bk_http_request_body", "Body", "string",
                  description="Text sent as is, or an object/list sent as JSON."),
        FieldSpec("bk_http_request_timeout", "Timeout (seconds)", "int",
                  description=f"Default {int(DEFAULT_TIMEOUT)}, at most {int(MAX_TIMEOUT)}."),
        FieldSpec("bk_http_request_success_exp", "Success condition", "string",
                  description="A condition over ${status_code} and ${resp}; default: a 2xx status."),
    ]
    outputs_format = [
        FieldSpec("status_code", "Status code", "int"),
        FieldSpec("data", "Response data", "object",
                  description="The response body parsed as JSON, or its text."),
        FieldSpec("body", "Response text", "string"),
    ]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        try:
            return self._request(ctx)
        except (RequestRefused, egress.EgressRefused, egress.EgressConfigError) as exc:
            ctx.log.error("request refused: %s", exc)
            return Outcome.failure(f"HTTP request refused: {exc}.")
        except requests.RequestException as exc:
            ctx.log.error("request failed: %s", exc)
            return Outcome.failure(f"HTTP request failed: {exc}.")

    def _request(self, ctx: ExecutionContext) -> Outcome:
        inputs = ctx.inputs
        method = str(first(inputs, "bk_http_request_method", default="GET")).strip().upper()
        if method not in METHODS:
            raise RequestRefused(f"method {method!r} is not one of {', '.join(sorted(METHODS))}")
        url = str(first(inputs, "bk_http_request_url", default="")).strip()
        headers = _headers(first(inputs, "bk_http_request_header"))
        body = _body(first(inputs, "bk_http_request_body"))
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        try:
            timeout = number(first(inputs, "bk_http_request_timeout", default=DEFAULT_TIMEOUT),
                             field="bk_http_request_timeout")
        except ValueError as exc:
            raise RequestRefused(str(exc)) from exc
        timeout = min(max(timeout, 1.0), MAX_TIMEOUT)

        def stop_check() -> None:
            if ctx.should_stop():
                raise RequestRefused("the node was stopped before the request was sent")

        # Scheme, host and path only: a query string may carry a credential.
        ctx.log.info("%s %s (timeout %g s)", method, urlsplit(url)._replace(query="", fragment="").geturl(), timeout)
        started = time.monotonic()
        with EgressSession(egress_policy(), max_redirects=MAX_REDIRECTS) as session:
            with session.request(method, url, headers=headers, data=body, timeout=timeout,
                                 before_each=stop_check) as response:
                raw = _read_bounded(response, ctx)
                ctx.log.info("answered %s, %d bytes in %.3f s", response.status_code, len(raw),
                             time.monotonic() - started)
                return self._finish(ctx, response, raw)

    def _finish(self, ctx: ExecutionContext, response: requests.Response, raw: bytes) -> Outcome:
        text = raw.decode(response.encoding or "utf-8", errors="replace")
        try:
            data: Any = json.loads(text) if text.strip() else text
        except ValueError:
            data = text
        ctx.outputs.update({"status_code": response.status_code, "data": data, "body": text})

        expression = first(ctx.inputs, "bk_http_request_success_exp", default="")
        if isinstance(expression, str) and expression.strip():
            try:
                ok = evaluate_condition(expression, {"status_code": response.status_code, "resp": data})
            except ExpressionError as exc:
                return Outcome.failure(f"HTTP success condition cannot be evaluated: {exc}")
            if not ok:
                ctx.log.warning("success condition %r not met", expression)
                return Outcome.failure(
                    f"HTTP response (status {response.status_code}) does not meet the success "
                    f"condition {expression!r}.")
            return Outcome.success()
        if 200 <= response.status_code < 300:
            return Outcome.success()
        return Outcome.failure(f"HTTP request answered status {response.status_code}: {text[:500]}")
