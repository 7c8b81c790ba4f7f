"""Helpers for tests against a live server: the spec's HTTP request styles, and waiting on a task."""
from __future__ import annotations

import json
from typing import Any

import requests

from tests.conftest import wait_for

from .contract import SdkClient


class Http:
    """Sends requests exactly the way the spec's HTTP examples do."""

    def __init__(self, base_url: str, creds: dict[str, str]) -> None:
        self.base = base_url.rstrip("/") + "/apigw/"
        self.creds = creds

    def _kwargs(self, kwargs: dict[str, Any] | None, creds: dict[str, str] | None) -> dict[str, Any]:
        return {**(creds if creds is not None else self.creds), **(kwargs or {})}

    def get(self, path: str, kwargs: dict | None = None, creds: dict | None = None) -> dict[str, Any]:
        """`requests.get(url, kwargs)`: an ordinary query string (nested values as JSON)."""
        query = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in self._kwargs(kwargs, creds).items()}
        return self._answer(requests.get(self.base + path, query, timeout=30))

    def get_json(self, path: str, kwargs: dict | None = None, creds: dict | None = None) -> dict[str, Any]:
        """`requests.get(url, json.dumps(kwargs))`: the whole query string is a JSON document."""
        return self._answer(requests.get(self.base + path, json.dumps(self._kwargs(kwargs, creds)), timeout=30))

    def post(self, path: str, kwargs: dict | None = None, creds: dict | None = None) -> dict[str, Any]:
        """`requests.post(url, json.dumps(kwargs))`: a JSON body without a JSON content type."""
        return self._answer(requests.post(self.base + path, json.dumps(self._kwargs(kwargs, creds)), timeout=30))

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.base + path, timeout=30, **kw)

    @staticmethod
    def _answer(response: requests.Response) -> dict[str, Any]:
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return response.json()


def sdk(base_url: str, creds: dict[str, str]) -> SdkClient:
    return SdkClient(base_url, app_code=creds["app_code"], app_secret=creds["app_secret"],
                     access_token=creds["access_token"])


def ok(answer: dict[str, Any]) -> Any:
    assert answer["result"] is True, answer
    return answer.get("data")


def node_id_of(tree: dict, code: str) -> str:
    return next(i for i, a in tree["activities"].items() if (a.get("component") or {}).get("code") == code)


def wait_status(http: Http, task_id: int, predicate, biz: int = 2, timeout: float = 30, message: str = ""):
    """Poll get_task_status until `predicate(data)` holds; return the data."""
    def probe():
        data = ok(http.get(f"get_task_status/{task_id}/{biz}/"))
        return data if predicate(data) else None
    return wait_for(probe, timeout=timeout, interval=0.2, message=message or f"status of task {task_id}")


def child_state(data: dict, node_id: str) -> str | None:
    return (data.get("children", {}).get(node_id) or {}).get("state")


def node_by_name(tree: dict, name: str) -> str:
    """The regenerated id of the activity or gateway named `name` (ids change at create; names stay)."""
    nodes = {**tree["activities"], **tree["gateways"]}
    return next(i for i, n in nodes.items() if n.get("name") == name)


def flow_to(tree: dict, gateway_id: str, target_id: str) -> str:
    return next(f for f in tree["gateways"][gateway_id]["outgoing"] if tree["flows"][f]["target"] == target_id)


def parse_body(raw: bytes, content_type: str) -> dict:
    """A POST body as a dict: a form's fields (each given once), else JSON."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qs

        return {k: v[0] for k, v in parse_qs(raw.decode("ascii"), keep_blank_values=True).items()}
    return json.loads(raw or b"{}")


class Receiver:
    """A local HTTP endpoint on 127.0.0.1; the worker reaches it only in a test that uses `open_loopback`.

    GET /ok answers 200 JSON; GET /flaky answers 503 the first time, 200 after; POST records its body (a JSON
    document, or a form's fields: `parse_body`) in `posts` and its Content-Type in `post_types`.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.posts: list[dict] = []
        self.post_types: list[str] = []
        self.gets: list[str] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with receiver._lock:
                    receiver.gets.append(self.path)
                    first = receiver.gets.count(self.path) == 1
                status = 503 if self.path == "/flaky" and first else 200
                self._answer(status, {"path": self.path, "status": status})

            def do_POST(self) -> None:  # noqa: N802
                content_type = self.headers.get("Content-Type") or ""
                body = parse_body(self.rfile.read(int(self.headers.get("Content-Length") or 0)), content_type)
                with receiver._lock:
                    receiver.posts.append(body)
                    receiver.post_types.append(content_type)
                self._answer(200, {"result": True})

            def _answer(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="test-receiver").start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
