"""`bk_http_request`: one HTTP request to an allow-listed host.

Only hosts named in the setting SOPS_HTTP_ALLOWLIST may be reached ("*"
allows any, "*.example.com" a domain and its subdomains); redirects are
followed by hand so that every hop is checked against the same list. The
response body is read in chunks, bounded, and abandoned as soon as the node
is asked to stop.

Success is a 2xx status, or, when `bk_http_request_success_exp` is given,
that condition evaluated against `status_code` and `resp` (the parsed JSON
body, or its text), e.g. `${status_code} == 200 and ${resp.result} == True`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from pipeline_engine.core.components import config
from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from pipeline_engine.core.components.builtins._inputs import first, number
from pipeline_engine.core.components.registry import register
from pipeline_engine.core.conditions import evaluate_condition
from pipeline_engine.core.expressions import ExpressionError

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class RequestRefused(Exception):
    """The request breaks a rule checked before anything is sent."""


def allowlist() -> list[str]:
    """Hostnames outbound requests may reach (empty when Django is not configured)."""
    value = config.setting("SOPS_HTTP_ALLOWLIST", []) or []
    if isinstance(value, str):
        value = value.split(",")
    return [str(h).strip().lower() for h in value if str(h).strip()]


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry == "*" or entry == host:
            return True
        if entry.startswith("*.") and (host == entry[2:] or host.endswith(entry[1:])):
            return True
    return False


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RequestRefused(f"URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise RequestRefused(f"URL {url!r} has no host")
    if not host_allowed(parts.hostname, allowlist()):
        raise RequestRefused(
            f"host {parts.hostname!r} is not in SOPS_HTTP_ALLOWLIST; an operator must add it "
            f"before tasks may call it")


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
    name = "HTTP request"
    inline = False
    inputs_format = [
        FieldSpec("bk_http_request_method", "Method", "string", required=True,
                  description="GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS."),
        FieldSpec("bk_http_request_url", "URL", "string", required=True,
                  description="http(s) URL; its host must be in SOPS_HTTP_ALLOWLIST."),
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
        except RequestRefused as exc:
            return Outcome.failure(f"HTTP request refused: {exc}.")
        except requests.RequestException as exc:
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

        with requests.Session() as session:
            # Proxies and netrc from the worker's environment must not apply.
            session.trust_env = False
            for _hop in range(MAX_REDIRECTS + 1):
                check_url(url)
                if ctx.should_stop():
                    raise RequestRefused("the node was stopped before the request was sent")
                with session.request(method, url, headers=headers, data=body, timeout=timeout,
                                     allow_redirects=False, stream=True) as response:
                    location = response.headers.get("Location")
                    if response.is_redirect and location:
                        url = urljoin(url, location)
                        if response.status_code in (301, 302, 303) and method != "HEAD":
                            method, body = "GET", None
                        continue
                    raw = _read_bounded(response, ctx)
                    return self._finish(ctx, response, raw)
        raise RequestRefused(f"more than {MAX_REDIRECTS} redirects")

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
                return Outcome.failure(
                    f"HTTP response (status {response.status_code}) does not meet the success "
                    f"condition {expression!r}.")
            return Outcome.success()
        if 200 <= response.status_code < 300:
            return Outcome.success()
        return Outcome.failure(f"HTTP request answered status {response.status_code}: {text[:500]}")
