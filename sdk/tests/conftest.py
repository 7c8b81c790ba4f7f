"""Fixtures of the SDK's tests: the live sops server they call, clients in both credential modes, and a
local HTTP server for what needs a server that misbehaves on purpose.

The live server is one started the way `make run` starts it (sdk/scripts/run_live_tests.py, or
`make sdk-test`, starts a fresh one). Its URL comes from SOPS_SDK_ENDPOINT and its credentials from
the demo's credentials file named by SOPS_SDK_CREDENTIALS (var/demo-credentials.json of `make run`).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sops_sdk import Client

SDK_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SDK_ROOT / "scripts"))  # the generator, for the tests that compare with it

# The spec's examples name literal ids (task 10, periodic tasks 1 and 8) that only a fresh demo server
# gives: their module runs before any other test creates something.
FIRST_MODULE = "test_spec_examples.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name != FIRST_MODULE)


@dataclass(frozen=True)
class Live:
    endpoint: str
    app_code: str
    app_secret: str
    bk_token: str
    access_token: str

    def client(self, **kwargs: Any) -> Client:
        """A client with the app's credentials and the user's bk_token (the first credential mode)."""
        credentials = dict(bk_app_code=self.app_code, bk_app_secret=self.app_secret, bk_token=self.bk_token)
        return Client(self.endpoint, **{**credentials, **kwargs})


@pytest.fixture(scope="session")
def live() -> Live:
    endpoint = os.environ.get("SOPS_SDK_ENDPOINT")
    credentials_file = os.environ.get("SOPS_SDK_CREDENTIALS")
    if not endpoint or not credentials_file:
        pytest.fail("these tests call a live sops server: set SOPS_SDK_ENDPOINT and SOPS_SDK_CREDENTIALS, "
                    "or run `make sdk-test`, which starts a fresh one", pytrace=False)
    saved = json.loads(Path(credentials_file).read_text())
    return Live(endpoint=endpoint, app_code=saved["app_code"], app_secret=saved["app_secret"],
                bk_token=saved["bk_token"], access_token=saved["access_token"])


@pytest.fixture(scope="session")
def client(live: Live) -> Client:
    """App credentials + bk_token: the mode every endpoint works in."""
    return live.client()


@pytest.fixture(scope="session")
def token_client(live: Live) -> Client:
    """access_token alone: the runtime's other credential mode."""
    return Client(live.endpoint, access_token=live.access_token)


# --- a local HTTP server with scripted answers -------------------------------------------------------

@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


DROP = object()  # answer nothing and close the connection: the client sees a connection error


@dataclass
class LocalServer:
    """Answers each request with `answer(seen)`: (status, json body), or DROP; records every request."""

    answer: Callable[[Seen], Any] = lambda seen: (200, {"result": True, "data": None, "message": "", "code": 0})
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = Seen(self.command, self.path, dict(self.headers.items()), body, time.monotonic())
            state.seen.append(seen)
            answer = state.answer(seen)
            if answer is DROP:
                self.close_connection = True
                return
            status, payload = answer
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _handle  # noqa: N815 (the stdlib's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
