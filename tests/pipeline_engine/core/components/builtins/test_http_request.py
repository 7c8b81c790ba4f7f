"""bk_http_request against a local HTTP server, and how the egress policy applies to it.

The policy itself (every notation, every rule) is tested in tests/pipeline_engine/core/test_egress.py;
here: that the component uses it, says why it refused, and sends nothing then.
"""
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
            self._reply(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path.startswith("/redirect-to/"):
            self._reply(302, b"", headers={"Location": "http://" + self.path[len("/redirect-to/"):]})
        elif self.path.startswith("/loop"):
            self._reply(302, b"", headers={"Location": "/loop"})
        elif self.path.startswith("/echo"):
            self._reply(200, json.dumps({"method": self.command, "body": body.decode()}).encode())
        elif self.path.startswith("/headers"):
            self._reply(200, json.dumps(dict(self.headers)).encode())
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
    """Open the loopback address the test server listens on (nothing is open by default)."""
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


def test_loopback_not_opened_is_refused_and_nothing_is_sent(server):
    port = server.rsplit(":", 1)[1]
    with config.override(SOPS_HTTP_ALLOWLIST=["example.com"]):
        outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "failure"
    assert outcome.ex_data == ("HTTP request refused: url host[127.0.0.1] is a loopback address, which "
                               "SOPS_HTTP_ALLOWLIST does not open.")
    assert RECEIVED == [] and outputs == {}
    with config.override(SOPS_HTTP_ALLOWLIST=[]):
        outcome, _ = run({"bk_http_request_method": "GET",
                          "bk_http_request_url": f"http://localhost:{port}/admin/login/"})
    assert outcome.ex_data.startswith("HTTP request refused: url host[localhost] resolves to ")
    assert "a loopback address, which SOPS_HTTP_ALLOWLIST does not open" in outcome.ex_data
    assert RECEIVED == []


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "017700000001", "[::ffff:127.0.0.1]",
                                  "[::ffff:7f00:1]"])
def test_loopback_in_other_notations_is_refused_by_default(server, host):
    port = server.rsplit(":", 1)[1]
    with config.override(SOPS_HTTP_ALLOWLIST=[]):
        outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"http://{host}:{port}/json"})
    assert outcome.kind == "failure" and "127.0.0.1" in outcome.ex_data and "a loopback address" in outcome.ex_data
    assert RECEIVED == []


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "017700000001"])
def test_loopback_in_other_notations_is_reached_when_opened(server, host):
    port = server.rsplit(":", 1)[1]
    outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"http://{host}:{port}/json"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["data"]["result"] is True and RECEIVED[-1]["headers"]["Host"] == f"{host}:{port}"


def test_an_entry_for_another_port_does_not_open_this_one(server):
    port = int(server.rsplit(":", 1)[1])
    with config.override(SOPS_HTTP_ALLOWLIST=f"127.0.0.1:{port + 1}"):
        outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "failure" and f"on port {port}" in outcome.ex_data and RECEIVED == []
    with config.override(SOPS_HTTP_ALLOWLIST=f"127.0.0.1:{port}"):
        outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "success"


def test_star_is_no_longer_an_entry(server):
    with config.override(SOPS_HTTP_ALLOWLIST="*"):
        outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/json"})
    assert outcome.kind == "failure" and "SOPS_HTTP_ALLOWLIST entry '*' is not accepted" in outcome.ex_data
    assert RECEIVED == []


def test_the_allowlist_is_empty_without_django_settings(monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    from pipeline_engine.core import settings as core_settings

    monkeypatch.setattr(core_settings, "_overrides", {})
    from django.conf import settings

    if settings.configured:
        pytest.skip("Django settings are already configured in this session")
    assert http_request.egress_policy().rules == ()


def test_the_policy_reads_the_setting():
    with config.override(SOPS_HTTP_ALLOWLIST="10.0.0.0/8, *.corp.example"):
        assert [r.text for r in http_request.egress_policy().rules] == ["10.0.0.0/8", "*.corp.example"]


def test_redirect_within_allowlist_is_followed(server):
    outcome, outputs = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/redirect-local"})
    assert outcome.kind == "success"
    assert outputs["data"]["result"] is True


def test_redirect_to_the_metadata_address_is_refused(server):
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/redirect-away"})
    assert outcome.kind == "failure"
    assert outcome.ex_data == ("HTTP request refused: redirect location host[169.254.169.254] is a link-local "
                               "address, which SOPS_HTTP_ALLOWLIST does not open.")
    assert [r["path"] for r in RECEIVED] == ["/redirect-away"]


def test_credentials_do_not_follow_a_redirect_to_another_origin(server):
    other = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=other.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        elsewhere = f"127.0.0.1:{other.server_address[1]}/headers"
        outcome, outputs = run({"bk_http_request_method": "GET",
                                "bk_http_request_url": f"{server}/redirect-to/{elsewhere}",
                                "bk_http_request_header": {"Authorization": "Bearer s3cret", "X-Trace": "t"}})
    finally:
        other.shutdown()
        other.server_close()
    assert outcome.kind == "success", outcome.ex_data
    assert "Authorization" not in outputs["data"] and outputs["data"]["X-Trace"] == "t"
    assert RECEIVED[0]["headers"]["Authorization"] == "Bearer s3cret"


def test_redirect_loop_stops(server):
    outcome, _ = run({"bk_http_request_method": "GET", "bk_http_request_url": f"{server}/loop"})
    assert outcome.kind == "failure" and "redirects" in outcome.ex_data


@pytest.mark.parametrize("inputs, reason", [
    ({"bk_http_request_method": "BREW", "bk_http_request_url": "http://127.0.0.1/"}, "method 'BREW'"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "ftp://127.0.0.1/x"}, "http://"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "file:///etc/passwd"}, "http://"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": ""}, "http://"),
    ({"bk_http_request_method": "GET", "bk_http_request_url": "http://a@127.0.0.1/"}, "user name or password"),
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
