"""bk_http_request against a local HTTP server, plus the allowlist."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline_engine.core.components import ExecutionContext, config, get_component
from pipeline_engine.core.components.builtins import http_request

RECEIVED: list[dict] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        RECEIVED.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                         "body": body.decode()})
        if self.path.startswith("/json"):
            self._reply(200, json.dumps({"result": True, "data": {"n": 1}}).encode())
        elif self.path.startswith("/text"):
            self._reply(200, b"plain text", "text/plain")
        elif self.path.startswith("/status/"):
            self._reply(int(self.path.rsplit("/", 1)[1]), b'{"result": false}')
        elif self.path.startswith("/redirect-local"):
            self._reply(302, b"", headers={"Location": "/json"})
        elif self.path.startswith("/redirect-away"):
            self._reply(302, b"", headers={"Location": "http://forbidden.example.invalid/x"})
        elif self.path.startswith("/loop"):
            self._reply(302, b"", headers={"Location": "/loop"})
        elif self.path.startswith("/echo"):
            self._reply(200, json.dumps({"method": self.command, "body": body.decode()}).encode())
        else:
            self._reply(404, b"{}")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def allow_local():
    RECEIVED.clear()
    with config.override(SOPS_HTTP_ALLOWLIST=["127.0.0.1"]):
        yield


def run(inputs: dict) -> tuple:
    ctx = ExecutionContext(run_id="r", node_id="n", inputs=inputs)
    outcome = get_component("bk_http_request")().execute(ctx)
    return outcome, ctx.outputs


def test_get_json(server):
    outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["status_code"] == 200
    assert outputs["data"] == {"result": True, "data": {"n": 1}}
    assert json.loads(outputs["body"]) == outputs["data"]


def test_text_body_is_kept_as_text(server):
    outcome, outputs = run({"bk_http_request_method": "get", "bk_http_request_url": f"{server}/text"})
    assert outcome.kind == "success"
    assert outputs["data"] == "plain text"


def test_post_with_json_body_and_header_list(server):
    outcome, outputs = run({
        "bk_http_request_method": "POST",
        "bk_http_request_url": f"{server}/echo",
        "bk_http_request_header": [{"name": "X-Token", "value": "t1"}, {"name": "", "value": "skip"}],
        "bk_http_request_body": {"k": "v"},
    })
    assert outcome.kind == "success"
    assert outputs["data"] == {"method": "POST", "body": '{"k": "v"}'}
    assert RECEIVED[-1]["headers"]["X-Token"] == "t1"
    assert RECEIVED[-1]["headers"]["Content-Type"] == "application/json"


def test_string_body_and_header_dict(server):
    outcome, outputs = run({
        "bk_http_request_method": "PUT",
        "bk_http_request_url": f"{server}/echo",
        "bk_http_request_header": {"Content-Type": "text/plain"},
        "bk_http_request_body": "raw text",
    })
    assert outcome.kind == "success"
    assert outputs["data"]["body"] == "raw text"
    assert RECEIVED[-1]["headers"]["Content-Type"] == "text/plain"


def test_non_2xx_fails_but_keeps_outputs(server):
    outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/status/500"})
    assert outcome.kind == "failure"
    assert "status 500" in outcome.ex_data
    assert outputs["status_code"] == 500


@pytest.mark.parametrize("expression, path, kind", [
    ("${status_code} == 200", "/json", "success"),
    ("${status_code} == 201", "/json", "failure"),
    ("${resp.result} == True", "/json", "success"),
    ("${resp['data']['n']} == 1 and ${status_code} in (200, 201)", "/json", "success"),
    ("${status_code} == 404", "/status/404", "success"),  # the condition decides, not the status
])
def test_success_expression(server, expression, path, kind):
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": server + path,
                      "bk_http_request_success_exp": expression})
    assert outcome.kind == kind, outcome.ex_data


def test_bad_success_expression_fails_clearly(server):
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json",
                      "bk_http_request_success_exp": "${status_code} =="})
    assert outcome.kind == "failure"
    assert "success condition cannot be evaluated" in outcome.ex_data


def test_host_not_in_allowlist_is_refused(server):
    with config.override(SOPS_HTTP_ALLOWLIST=["example.com"]):
        outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "failure"
    assert "'127.0.0.1' is not in SOPS_HTTP_ALLOWLIST" in outcome.ex_data
    assert RECEIVED == [] and outputs == {}


def test_empty_allowlist_refuses_everything(server):
    with config.override(SOPS_HTTP_ALLOWLIST=[]):
        outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "failure" and RECEIVED == []


def test_star_allows_any_host(server):
    with config.override(SOPS_HTTP_ALLOWLIST="*"):
        outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "success"


def test_allowlist_matching():
    allowed = ["api.example.com", "*.corp.example"]
    assert http_request.host_allowed("API.example.com", allowed)
    assert http_request.host_allowed("a.b.corp.example", allowed)
    assert http_request.host_allowed("corp.example", allowed)
    assert not http_request.host_allowed("example.com", allowed)
    assert not http_request.host_allowed("evilcorp.example", allowed)
    assert not http_request.host_allowed("api.example.com.evil", allowed)


def test_allowlist_is_empty_without_django_settings(monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.setattr(config, "_overrides", {})
    from django.conf import settings

    if settings.configured:
        pytest.skip("Django settings are already configured in this session")
    assert http_request.allowlist() == []


def test_redirect_within_allowlist_is_followed(server):
    outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/redirect-local"})
    assert outcome.kind == "success"
    assert outputs["data"]["result"] is True


def test_redirect_outside_allowlist_is_refused(server):
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/redirect-away"})
    assert outcome.kind == "failure"
    assert "forbidden.example.invalid" in outcome.ex_data


def test_redirect_loop_stops(server):
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/loop"})
    assert outcome.kind == "failure" and "redirects" in outcome.ex_data


@pytest.mark.parametrize("inputs, reason", [
    ({"bk_http_request_method": "BREW", "bk_http_request_url": "http://127.0.0.1/"}, "method 'BREW'"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "ftp://127.0.0.1/x"}, "http://"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "file:///etc/passwd"}, "http://"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": ""}, "http://"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "http://127.0.0.1/",
      "bk_http_request_timeout": "abc"}, "must be a number"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "http://127.0.0.1/",
      "bk_http_request_header": "not json"}, "header"),
])
def test_bad_inputs_fail_clearly(inputs, reason):
    outcome, _ = run(inputs)
    assert outcome.kind == "failure"
    assert reason in outcome.ex_data


def test_connection_error_fails_clearly():
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": "http://127.0.0.1:9/x",
                      "bk_http_request_timeout": 2})
    assert outcome.kind == "failure" and outcome.ex_data.startswith("HTTP request failed")


def test_stop_before_sending(server):
    ctx = ExecutionContext(run_id="r", node_id="n",
                           inputs={"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    ctx.stop_event.set()
    outcome = get_component("bk_http_request")().execute(ctx)
    assert outcome.kind == "failure" and "stopped" in outcome.ex_data
    assert RECEIVED == []
