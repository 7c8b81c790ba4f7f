"""callback_url and the egress policy: delivery (backoff, give-up, the policy applied again at every
attempt, redirects not followed) and refusal at create, engine faked; the receivers are real local HTTP
servers."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline_engine.core.egress import EgressPolicy
from tasks_app import callbacks, services
from tasks_app.models import CallbackStatus, TaskCallbackRecord, TaskInstance
from tests.support.live_http import parse_body

pytestmark = pytest.mark.django_db


class Hook:
    """A local receiver answering POSTs with the statuses it is given in turn (the last one repeats)."""

    def __init__(self, statuses: list[int], location: str = "", port: int = 0) -> None:
        hook = self
        self.posts: list[dict] = []
        self.headers: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(parse_body(raw, self.headers.get("Content-Type") or ""))
                hook.headers.append(dict(self.headers))
                self.send_response(statuses[min(len(hook.posts), len(statuses)) - 1])
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"nope")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks():
    started: list[Hook] = []

    def start(statuses: list[int], **kwargs) -> Hook:
        started.append(Hook(statuses, **kwargs))
        return started[-1]
    yield start
    for hook in started:
        hook.close()


@pytest.fixture
def loopback_open(settings):
    """The receivers here listen on loopback, which only an explicit entry opens."""
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]


def _record(world, fake_engine, monkeypatch, url):
    monkeypatch.setattr(callbacks, "_dispatch", lambda *a, **k: None)
    task = services.create_task(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                                app_code="app_code", callback_url=url)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})  # a repeat
    (record,) = TaskCallbackRecord.objects.filter(task=task)
    return record


def test_delivery_backs_off_then_gives_up(world, fake_engine, monkeypatch, loopback_open, hooks):
    hook = hooks([500])
    record = _record(world, fake_engine, monkeypatch, hook.url)
    delays = [callbacks.attempt_delivery(record.pk) for _ in range(callbacks.MAX_ATTEMPTS)]
    assert delays == [2, 4, 8, 16, 32, None]
    record.refresh_from_db()
    assert record.status == CallbackStatus.FAILED and record.attempts == 6 and record.last_status_code == 500
    assert record.last_error == "HTTP 500: nope"
    assert callbacks.attempt_delivery(record.pk) is None and len(hook.posts) == 6
    # The original's default body: a form of task_id and task_success.
    assert hook.posts[0] == {"task_id": str(record.task_id), "task_success": "True"}
    assert hook.headers[0]["Content-Type"] == "application/x-www-form-urlencoded"


def test_delivery_success_after_a_connection_error(world, fake_engine, monkeypatch, loopback_open, hooks):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = probe.getsockname()[1]
    record = _record(world, fake_engine, monkeypatch, f"http://127.0.0.1:{port}/hook")
    try:
        assert callbacks.attempt_delivery(record.pk) == 2
    finally:
        probe.close()
    record.refresh_from_db()
    assert record.status == CallbackStatus.PENDING and record.last_error.startswith("ConnectionError: ")
    hook = hooks([204], port=port)
    assert callbacks.attempt_delivery(record.pk) is None
    record.refresh_from_db()
    assert record.status == CallbackStatus.SUCCESS and record.attempts == 2 and record.last_status_code == 204
    assert record.last_error == "" and len(hook.posts) == 1


def test_the_policy_is_applied_again_at_delivery(world, fake_engine, monkeypatch, settings, loopback_open, hooks):
    hook = hooks([200])
    record = _record(world, fake_engine, monkeypatch, hook.url)
    settings.SOPS_HTTP_ALLOWLIST = []  # the operator closed loopback after the task was created
    assert callbacks.attempt_delivery(record.pk) is None
    record.refresh_from_db()
    assert record.status == CallbackStatus.FAILED and record.attempts == 1  # never retried
    assert record.last_error == ("refused: callback_url host[127.0.0.1] is a loopback address, which "
                                 "SOPS_HTTP_ALLOWLIST does not open")
    assert hook.posts == []


class SwitchingDNS:
    """The first answer for a name, then whatever `later` says (an address list, or an error)."""

    def __init__(self, first: list[str], later) -> None:
        self.first, self.later, self.asked = first, later, 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        if self.asked == 1:
            return self.first
        if isinstance(self.later, Exception):
            raise self.later
        return self.later


def _policy_with(monkeypatch, entries: list[str], dns) -> None:
    from pipeline_engine import api

    monkeypatch.setattr(api, "egress_policy", lambda: EgressPolicy.from_entries(entries, resolver=dns))


def test_a_name_that_resolves_to_loopback_by_delivery_time_is_not_called(world, fake_engine, monkeypatch, hooks):
    hook = hooks([200])
    dns = SwitchingDNS(["127.0.0.2"], ["127.0.0.1"])  # checked at create: 127.0.0.2, opened; then rebound
    _policy_with(monkeypatch, ["127.0.0.2"], dns)
    record = _record(world, fake_engine, monkeypatch, f"http://hooks.test:{hook.port}/hook")
    assert callbacks.attempt_delivery(record.pk) is None
    record.refresh_from_db()
    assert dns.asked == 2 and record.status == CallbackStatus.FAILED and record.attempts == 1
    assert record.last_error == ("refused: callback_url host[hooks.test] resolves to 127.0.0.1, a loopback "
                                 "address, which SOPS_HTTP_ALLOWLIST does not open")
    assert hook.posts == []


def test_a_name_that_stops_resolving_is_retried(world, fake_engine, monkeypatch, hooks):
    dns = SwitchingDNS(["127.0.0.2"], OSError("Temporary failure in name resolution"))
    _policy_with(monkeypatch, ["127.0.0.2"], dns)
    record = _record(world, fake_engine, monkeypatch, "http://hooks.test/hook")
    assert callbacks.attempt_delivery(record.pk) == 2
    record.refresh_from_db()
    assert record.status == CallbackStatus.PENDING and record.attempts == 1
    assert record.last_error == ("refused: callback_url host[hooks.test] cannot be resolved: Temporary failure "
                                 "in name resolution")


def test_a_redirect_is_not_followed(world, fake_engine, monkeypatch, loopback_open, hooks):
    elsewhere = hooks([200])
    hook = hooks([302], location=elsewhere.url)
    record = _record(world, fake_engine, monkeypatch, hook.url)
    assert callbacks.attempt_delivery(record.pk) == 2
    record.refresh_from_db()
    assert record.last_status_code == 302 and record.status == CallbackStatus.PENDING
    assert len(hook.posts) == 1 and elsewhere.posts == []


CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
LOOPBACK_CALLBACKS = [
    ("http://127.0.0.1:8000/hook", "callback_url host[127.0.0.1] is a loopback address, which "
                                   "SOPS_HTTP_ALLOWLIST does not open"),
    ("http://localhost:8000/hook", "callback_url host[localhost] resolves to 127.0.0.1, a loopback address, "
                                   "which SOPS_HTTP_ALLOWLIST does not open"),
    ("http://0x7f.1/hook", "callback_url host[0x7f.1] is 127.0.0.1, a loopback address, which "
                           "SOPS_HTTP_ALLOWLIST does not open"),
    ("http://[::ffff:127.0.0.1]/hook", "callback_url host[::ffff:127.0.0.1] is ::ffff:7f00:1, an IPv4-mapped "
                                       "form of 127.0.0.1 (a loopback address), which SOPS_HTTP_ALLOWLIST does "
                                       "not open"),
    ("http://169.254.169.254/hook", "callback_url host[169.254.169.254] is a link-local address, which "
                                    "SOPS_HTTP_ALLOWLIST does not open"),
    ("http://a@127.0.0.1/hook", "callback_url must not carry a user name or password; send credentials in "
                                "a header"),
    ("ftp://127.0.0.1/hook", "callback_url must start with http:// or https://"),
]


@pytest.mark.parametrize("endpoint", ["create_task", "create_and_start_task"])
@pytest.mark.parametrize("url, message", LOOPBACK_CALLBACKS, ids=[u for u, _ in LOOPBACK_CALLBACKS])
def test_loopback_callback_url_is_refused_at_create(world, fake_engine, client, endpoint, url, message):
    body = {**CREDS, "name": "x", "callback_url": url}
    answer = client.post(f"/apigw/{endpoint}/10/2/", json.dumps(body), content_type="text/plain").json()
    assert answer == {"result": False, "data": None, "message": message, "code": 3540000}
    assert TaskInstance.objects.count() == 0 and "start_pipeline" not in fake_engine.names()


@pytest.mark.parametrize("endpoint", ["create_task", "create_and_start_task"])
def test_loopback_callback_url_is_accepted_once_opened(world, fake_engine, client, loopback_open, endpoint):
    body = {**CREDS, "name": "x", "callback_url": "http://127.0.0.1:8000/hook"}
    answer = client.post(f"/apigw/{endpoint}/10/2/", json.dumps(body), content_type="text/plain").json()
    assert answer["result"] is True, answer
    assert TaskInstance.objects.get().callback_url == "http://127.0.0.1:8000/hook"


def test_the_v2_body_is_json_with_the_outputs_when_they_serialise(world, fake_engine, monkeypatch):
    from pipeline_engine.api import RunSummary

    task = TaskInstance(pk=5, run_id="r5", callback_version="v2")
    summary = RunSummary(run_id="r5", state="FINISHED", start_time=None, finish_time=None, elapsed_time=0,
                         outputs={"${x}": 1})
    from pipeline_engine import api

    monkeypatch.setattr(api, "get_run_summaries", lambda ids: {"r5": summary})
    assert callbacks.callback_body(task, "FINISHED") == (
        "json", {"task_id": 5, "task_success": True, "callback_version": "v2", "task_outputs": {"${x}": 1}})
    summary.outputs = {"${x}": object()}
    assert callbacks.callback_body(task, "REVOKED") == (
        "json", {"task_id": 5, "task_success": False, "callback_version": "v2"})
    assert callbacks.encode_body({"task_id": "5", "task_success": "False"}, "form") == (
        "application/x-www-form-urlencoded", b"task_id=5&task_success=False")
