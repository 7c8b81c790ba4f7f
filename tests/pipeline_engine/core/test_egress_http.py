"""Outbound HTTP through the egress policy (pipeline_engine.core.egress_http) against local servers.

Every server here listens on the loopback range (127.0.0.1, 127.0.0.2, ::1); the policies
open exactly the addresses a test needs, and names resolve through resolvers the tests give,
so a test can make "the check" and "the connect" see different DNS answers.
"""
from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipeline_engine.core.egress import EgressPolicy, EgressRefused
from pipeline_engine.core.egress_http import CREDENTIAL_HEADERS, EgressSession, PinnedAdapter

CREDENTIALS = {"Authorization": "Bearer s3cret", "Cookie": "session=s3cret", "Proxy-Authorization": "Basic s3cret"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: int = socket.AF_INET) -> None:
        self.address_family = family
        self.seen: list[dict] = []
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args):
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                 "body": body})
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            query = parse_qs(parts.query)
            self.send_response(int(query.get("status", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        raw = json.dumps({"method": self.command, "path": self.path, "body": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class Servers:
    """Starts servers and stops them all at the end of the test."""

    def __init__(self) -> None:
        self.running: list[_Server] = []

    def start(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> _Server:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = _Server((host, port), family)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.running.append(server)
        return server

    def pair_on_one_port(self, first: str, second: str) -> tuple[_Server, _Server]:
        """Two servers on the same port of two loopback addresses."""
        for _ in range(20):
            a = self.start(first)
            try:
                return a, self.start(second, a.server_address[1])
            except OSError:
                continue
        pytest.skip("no port free on both loopback addresses")

    def stop(self) -> None:
        for server in self.running:
            server.shutdown()
            server.server_close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    started.stop()


class ScriptedDNS:
    """Answers the i-th question about a name with the i-th answer in its list (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        script = self.answers[host]
        return script[min(self.asked.count(host), len(script)) - 1]


def port_of(server: _Server) -> int:
    return server.server_address[1]


def url_of(server: _Server, path: str = "/") -> str:
    host = server.server_address[0]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port_of(server)}{path}"


def session_for(*entries: str, dns=None, **kwargs) -> EgressSession:
    return EgressSession(EgressPolicy.from_entries(list(entries), resolver=dns), **kwargs)


def get(session: EgressSession, url: str, **kwargs) -> requests.Response:
    response = session.request(kwargs.pop("method", "GET"), url, timeout=5, **kwargs)
    response.content  # read it all, then the connection goes back to its pool  # noqa: B018
    response.close()
    return response


# --- pinning: the connect goes where the check looked ------------------------------------------

def test_the_connect_uses_the_address_the_check_approved_not_a_new_answer(servers):
    approved, loopback = servers.pair_on_one_port("127.0.0.2", "127.0.0.1")
    port = port_of(approved)
    # First answer: an address the policy opens. Every later answer: 127.0.0.1, which it does not.
    dns = ScriptedDNS({"rebind.test": [["127.0.0.2"], ["127.0.0.1"]]})
    with session_for("127.0.0.2", dns=dns) as session:
        response = get(session, f"http://rebind.test:{port}/first")
        assert response.status_code == 200 and response.json()["path"] == "/first"
        # A redirect back to the same host reuses the checked answer; it does not ask again.
        again = get(session, f"http://rebind.test:{port}/redirect?to=/second")
        assert again.json()["path"] == "/second"
    assert dns.asked == ["rebind.test"]
    assert [s["path"] for s in approved.seen] == ["/first", "/redirect?to=/second", "/second"]
    assert approved.seen[0]["headers"]["Host"] == f"rebind.test:{port}"
    assert loopback.seen == []
    # A new check asks again, gets 127.0.0.1, and is refused before any connection.
    with session_for("127.0.0.2", dns=dns) as session, pytest.raises(EgressRefused) as refused:
        get(session, f"http://rebind.test:{port}/third")
    assert "host[rebind.test] resolves to 127.0.0.1, a loopback address" in str(refused.value)
    assert dns.asked == ["rebind.test", "rebind.test"]
    assert loopback.seen == [] and len(approved.seen) == 3


def test_the_connect_tries_each_checked_address_in_turn(servers):
    server = servers.start("127.0.0.2")
    # Nothing listens on 127.0.0.3 at that port: the connection falls through to 127.0.0.2.
    dns = ScriptedDNS({"two.test": [["127.0.0.3", "127.0.0.2"]]})
    with session_for("127.0.0.0/8", dns=dns) as session:
        assert get(session, f"http://two.test:{port_of(server)}/x").status_code == 200
    assert [s["path"] for s in server.seen] == ["/x"]


def test_no_checked_address_accepting_is_a_connection_error(servers):
    server = servers.start("127.0.0.2")
    port = port_of(server)
    server.shutdown()
    server.server_close()
    with session_for("127.0.0.2") as session, pytest.raises(requests.ConnectionError):
        get(session, f"http://127.0.0.2:{port}/")


def test_the_adapter_refuses_an_origin_nobody_checked(servers):
    server = servers.start()
    with requests.Session() as plain:
        plain.mount("http://", PinnedAdapter({}))
        with pytest.raises(EgressRefused, match="the egress policy did not check it"):
            plain.get(url_of(server, "/unchecked"), timeout=5)
        # A pin for another port of the same host does not open this one.
        plain.mount("http://", PinnedAdapter({("http", "127.0.0.1", port_of(server) + 1): ("127.0.0.1",)}))
        with pytest.raises(EgressRefused):
            plain.get(url_of(server, "/other-port"), timeout=5)
    assert server.seen == []


def test_ipv6_loopback_when_opened(servers):
    try:
        server = servers.start("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with session_for("::1") as session:
        assert get(session, url_of(server, "/v6")).json()["path"] == "/v6"
    dns = ScriptedDNS({"six.test": [["::1"]]})
    with session_for("[::1]:" + str(port_of(server)), dns=dns) as session:
        assert get(session, f"http://six.test:{port_of(server)}/named").status_code == 200
    with session_for("127.0.0.1") as session, pytest.raises(EgressRefused, match="loopback"):
        get(session, url_of(server, "/refused"))
    assert [s["path"] for s in server.seen] == ["/v6", "/named"]


def test_environment_proxies_are_not_used(servers, monkeypatch):
    server = servers.start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: a proxied request would fail
    monkeypatch.setenv("NO_PROXY", "")
    with session_for("127.0.0.1") as session:
        assert get(session, url_of(server, "/direct")).status_code == 200
    assert [s["path"] for s in server.seen] == ["/direct"]


# --- TLS: SNI and certificate checks use the name, the socket the pinned address -------------------

@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=sops test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=pinned.test")
    (folder / "ext.cnf").write_text("subjectAltName=DNS:pinned.test\nextendedKeyUsage=serverAuth\n"
                                    "basicConstraints=critical,CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {name: folder / name for name in ("ca.pem", "server.pem", "server.key")}


def test_tls_keeps_the_host_name_for_sni_and_verification(servers, certificates):
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["server.pem"], certificates["server.key"])
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = servers.start("127.0.0.2", tls=context)
    port = port_of(server)
    dns = ScriptedDNS({"pinned.test": [["127.0.0.2"]], "other.test": [["127.0.0.2"]]})
    with session_for("127.0.0.2", dns=dns, verify=str(certificates["ca.pem"])) as session:
        response = get(session, f"https://pinned.test:{port}/tls")
        assert response.json()["path"] == "/tls"
        assert server.seen[0]["headers"]["Host"] == f"pinned.test:{port}"
        assert names == ["pinned.test"]
        # The same address under a name the certificate does not carry fails verification.
        with pytest.raises(requests.exceptions.SSLError):
            get(session, f"https://other.test:{port}/wrong-name")
    # And without the test CA the certificate is not trusted at all.
    with session_for("127.0.0.2", dns=dns) as session, pytest.raises(requests.exceptions.SSLError):
        get(session, f"https://pinned.test:{port}/untrusted")
    assert [s["path"] for s in server.seen] == ["/tls"]


# --- redirects -------------------------------------------------------------------------------------

def test_credentials_are_kept_on_a_same_origin_redirect(servers):
    server = servers.start()
    with session_for("127.0.0.1") as session:
        get(session, url_of(server, "/redirect?to=/landed"), headers={**CREDENTIALS, "X-Trace": "t1"})
    landed = server.seen[-1]
    assert landed["path"] == "/landed"
    for name, value in CREDENTIALS.items():
        assert landed["headers"][name] == value
    assert landed["headers"]["X-Trace"] == "t1"


def test_credentials_are_dropped_when_a_redirect_leaves_the_origin(servers):
    origin, other = servers.start(), servers.start()
    with session_for("127.0.0.1") as session:
        # Another port is another origin; after it, the chain never gets the credentials back.
        back = url_of(origin, "/back")
        to_other = url_of(other, f"/redirect?to={back}")
        get(session, url_of(origin, f"/redirect?to={to_other}"), headers={**CREDENTIALS, "X-Trace": "t2"})
    assert [s["path"] for s in origin.seen] == [f"/redirect?to={to_other}", "/back"]
    first, returned = origin.seen
    (visited,) = other.seen
    for name in CREDENTIALS:
        assert name in first["headers"]
        assert name not in visited["headers"]
        assert name not in returned["headers"]
    assert visited["headers"]["X-Trace"] == "t2" and returned["headers"]["X-Trace"] == "t2"
    assert {h.lower() for h in CREDENTIALS} == CREDENTIAL_HEADERS


def test_credentials_are_dropped_on_a_scheme_change(servers):
    server = servers.start()
    dns = ScriptedDNS({"a.test": [["127.0.0.1"]]})
    with session_for("127.0.0.1", dns=dns) as session:
        # http://a.test:P -> http://127.0.0.1:P is another origin (another host text) on the same socket.
        get(session, f"http://a.test:{port_of(server)}/redirect?to={url_of(server, '/ip')}",
            headers={"Authorization": "Bearer x"})
    assert "Authorization" in server.seen[0]["headers"] and "Authorization" not in server.seen[1]["headers"]


def test_a_redirect_to_a_target_the_policy_refuses_is_not_followed(servers):
    origin, other = servers.start(), servers.start()
    with session_for(f"127.0.0.1:{port_of(origin)}") as session:  # opens one port only
        with pytest.raises(EgressRefused) as refused:
            get(session, url_of(origin, f"/redirect?to={url_of(other, '/secret')}"))
        assert str(refused.value) == (
            f"redirect location host[127.0.0.1] is a loopback address, which SOPS_HTTP_ALLOWLIST does not open "
            f"on port {port_of(other)} (its entries open it on port {port_of(origin)} only)")
        for target, fragment in [
            ("http://169.254.169.254/latest/meta-data/", "redirect location host[169.254.169.254] is a link-local"),
            ("http://0x7f.1/", "redirect location host[0x7f.1] is 127.0.0.1, a loopback address"),
            ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped form of 127.0.0.1"),
            ("file:///etc/passwd", "redirect location must start with http:// or https://"),
            ("http://x@127.0.0.1/", "redirect location must not carry a user name or password"),
        ]:
            with pytest.raises(EgressRefused) as refused:
                get(session, url_of(origin, "/redirect?to=" + requests.utils.quote(target, safe="")))
            assert fragment in str(refused.value)
    assert other.seen == []


def test_redirects_are_capped(servers):
    server = servers.start()

    def chain(hops: int) -> str:
        url = url_of(server, "/end")
        for _ in range(hops):
            url = url_of(server, "/redirect?to=" + requests.utils.quote(url, safe=""))
        return url

    with session_for("127.0.0.1", max_redirects=2) as session:
        assert get(session, chain(2)).json()["path"] == "/end"
        with pytest.raises(EgressRefused, match="^more than 2 redirects$"):
            get(session, chain(3))
    with session_for("127.0.0.1", max_redirects=0) as session, pytest.raises(EgressRefused,
                                                                             match="more than 0 redirects"):
        get(session, chain(1))


@pytest.mark.parametrize("status, method, body", [
    (301, "GET", ""), (302, "GET", ""), (303, "GET", ""), (307, "POST", "payload"), (308, "POST", "payload"),
])
def test_redirect_status_decides_method_and_body(servers, status, method, body):
    server = servers.start()
    with session_for("127.0.0.1") as session:
        landed = get(session, url_of(server, f"/redirect?status={status}&to=/landed"), method="POST",
                     data=b"payload", headers={"Content-Type": "text/plain"}).json()
    assert landed == {"method": method, "path": "/landed", "body": body}
    assert ("Content-Type" in server.seen[-1]["headers"]) is (method == "POST")


def test_head_stays_head_through_a_redirect(servers):
    server = servers.start()
    with session_for("127.0.0.1") as session:
        get(session, url_of(server, "/redirect?to=/landed"), method="HEAD")
    assert [(s["method"], s["path"]) for s in server.seen] == [("HEAD", "/redirect?to=/landed"), ("HEAD", "/landed")]


def test_redirects_can_be_left_unfollowed(servers):
    server = servers.start()
    with session_for("127.0.0.1") as session:
        response = get(session, url_of(server, "/redirect?to=http://169.254.169.254/"), follow_redirects=False)
    assert response.status_code == 302 and [s["path"] for s in server.seen] == ["/redirect?to=http://169.254.169.254/"]


def test_before_each_runs_before_every_request_of_the_chain(servers):
    server = servers.start()
    calls: list[int] = []

    def stop_after_first() -> None:
        calls.append(len(server.seen))
        if len(calls) > 1:
            raise RuntimeError("stopped")

    with session_for("127.0.0.1") as session, pytest.raises(RuntimeError, match="stopped"):
        get(session, url_of(server, "/redirect?to=/second"), before_each=stop_after_first)
    assert calls == [0, 1] and [s["path"] for s in server.seen] == ["/redirect?to=/second"]


def test_a_refused_first_url_sends_nothing(servers):
    server = servers.start()
    with session_for() as session, pytest.raises(EgressRefused) as refused:
        get(session, url_of(server, "/x"))
    assert str(refused.value) == "url host[127.0.0.1] is a loopback address, which SOPS_HTTP_ALLOWLIST does not open"
    with session_for() as session, pytest.raises(EgressRefused, match=r"^callback_url host\[127\.0\.0\.1\]"):
        session.request("POST", url_of(server, "/x"), timeout=5, label="callback_url")
    assert server.seen == []
