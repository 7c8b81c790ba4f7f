"""The bench drivers' HTTP client: both kinds send the same requests and read the same answers,
and each counts its own CPU per request (the figure the latency rows print beside theirs)."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.harness import CLIENT_KINDS
from bench.http_scenarios import Client, Seed


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received; `/broken/` answers a page that is not JSON.
    HTTP/1.0: the connection closes after each answer, as gunicorn's sync workers do."""

    seen: list[dict[str, Any]] = []

    def _answer(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/apigw/broken/"):
            payload, status = b"<html>Bad Gateway</html>", 502
        else:
            received = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                        "body": json.loads(body) if body else None,
                        "content_type": self.headers.get("Content-Type")}
            self.seen.append(received)
            payload, status = json.dumps({"result": True, "data": received}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def seed() -> Iterator[Seed]:
    _Echo.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Seed(f"http://127.0.0.1:{server.server_address[1]}", 77, 1, 2)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_both_kinds_send_credentials_and_parameters_as_the_spec_s_examples_do(seed: Seed, kind: str):
    client = Client(seed, kind)
    elapsed, got = client.get("get_task_status", 5, node_id="n1")
    assert elapsed > 0 and got["result"] is True
    assert got["data"]["method"] == "GET"
    assert got["data"]["path"] == "/apigw/get_task_status/5/77/"
    assert got["data"]["query"] == {**{k: [v] for k, v in seed.creds.items()}, "node_id": ["n1"]}

    # A second request after the server closed the first connection opens a new one.
    _, posted = client.post("start_task", 6, {"name": "x"})
    assert posted["data"]["method"] == "POST"
    assert posted["data"]["path"] == "/apigw/start_task/6/77/"
    assert posted["data"]["body"] == {**seed.creds, "name": "x"}
    assert posted["data"]["content_type"] == "application/json"
    assert posted["data"]["query"] == {}
    assert len(_Echo.seen) == 2


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_an_answer_that_is_not_json_is_a_failed_result_with_its_status(seed: Seed, kind: str):
    _, got = Client(seed, kind).get("broken", 1)
    assert got["result"] is False
    assert got["message"].startswith("HTTP 502: <html>Bad Gateway")


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_the_client_counts_its_own_cpu_per_request_since_a_mark(seed: Seed, kind: str):
    client = Client(seed, kind)
    client.get("get_task_status", 1)
    mark = (client.cpu_s, client.calls)
    assert client.cpu_ms_per_call_since(mark) is None  # no request since the mark
    for _ in range(3):
        client.get("get_task_status", 1)
    assert client.calls == 4
    per_call = client.cpu_ms_per_call_since(mark)
    assert per_call is not None and per_call > 0
    assert per_call == pytest.approx((client.cpu_s - mark[0]) * 1e3 / 3, abs=1e-3)


def test_an_unknown_kind_is_refused(seed: Seed):
    with pytest.raises(ValueError, match="unknown HTTP client 'curl'"):
        Client(seed, "curl")
