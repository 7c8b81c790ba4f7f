"""Outbound HTTP that connects only where the egress policy said yes.

`EgressSession.request` checks the URL with an `EgressPolicy`, then sends the request
through a requests adapter whose connections go to the addresses that check returned,
never to a fresh DNS answer: the Host header, TLS SNI and certificate verification still
use the host name, only the socket's destination is pinned. A (scheme, host, port) the
policy did not check cannot get a connection at all, so a parser that read the URL
differently from the policy fails closed.

Redirects are followed by hand (at most `max_redirects`), each location checked again;
301/302/303 turn into a GET without a body (HEAD stays HEAD), 307/308 keep both. Once a
redirect leaves the first request's origin (scheme + host + port), the Authorization,
Cookie and Proxy-Authorization headers are dropped for the rest of the chain. Proxies and
netrc from the environment are never used (`trust_env` off; the adapter refuses proxies).
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util import connection as urllib3_connection

from pipeline_engine.core.egress import CheckedTarget, EgressPolicy, EgressRefused

__all__ = ["CREDENTIAL_HEADERS", "DEFAULT_MAX_REDIRECTS", "EgressSession", "PinnedAdapter"]

DEFAULT_MAX_REDIRECTS = 5
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})

Pins = dict[tuple[str, str, int], tuple[str, ...]]


def _pin_key(scheme: str, host: str, port: int) -> tuple[str, str, int]:
    return scheme.lower(), host.lower().strip("[]").rstrip("."), int(port)


class _PinnedConnectionMixin:
    """Connects to the checked addresses in turn instead of resolving `host` again."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def __init__(self, *args: Any, sops_addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        self._sops_addresses = sops_addresses
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        if not self._sops_addresses:
            raise NewConnectionError(self, "no checked address to connect to")  # type: ignore[arg-type]  # a mixin of HTTPConnection
        error: OSError | None = None
        timed_out = False
        for address in self._sops_addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError as exc:
                error, timed_out = exc, True
            except OSError as exc:
                error = exc
        if timed_out:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})") from error
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error  # type: ignore[arg-type]  # a mixin of HTTPConnection


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    def __init__(self, pins: Pins, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_classes_by_scheme = {"http": _PinnedHTTPConnectionPool, "https": _PinnedHTTPSConnectionPool}
        self._pins = pins

    def _new_pool(self, scheme: str, host: str, port: int,
                  request_context: dict[str, Any] | None = None) -> HTTPConnectionPool:
        addresses = self._pins.get(_pin_key(scheme, host, port))
        if not addresses:
            raise EgressRefused(f"no connection to {scheme}://{host}:{port}: the egress policy did not check it")
        context = dict(request_context if request_context is not None else self.connection_pool_kw)
        context["sops_addresses"] = addresses
        return super()._new_pool(scheme, host, port, context)


class PinnedAdapter(HTTPAdapter):
    """A requests adapter that connects to `pins[(scheme, host, port)]` and nowhere else."""

    def __init__(self, pins: Pins) -> None:
        self._pins = pins  # before super().__init__, which builds the pool manager
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _PinnedPoolManager(self._pins, num_pools=connections, maxsize=maxsize, block=block,
                                              **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise EgressRefused("outbound requests do not go through proxies")


class EgressSession:
    """A requests session bound to one policy; see the module docstring. Use as a context manager."""

    def __init__(self, policy: EgressPolicy, *, max_redirects: int = DEFAULT_MAX_REDIRECTS,
                 verify: bool | str = True) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        self.verify = verify
        self._checked: dict[tuple[str, str, int], CheckedTarget] = {}
        self._pins: Pins = {}
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies, netrc or CA bundle paths from the environment
        self._session.proxies = {}
        adapter = PinnedAdapter(self._pins)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __enter__(self) -> EgressSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def check(self, url: str, *, label: str = "url") -> CheckedTarget:
        """Check `url` and pin its addresses. A target already checked in this session keeps its
        first answer, so one chain of requests never sees two answers for one host."""
        parsed = self.policy.parse_url(url, label=label)
        known = self._checked.get(parsed.origin)
        if known is not None:
            return known
        target = self.policy.check(parsed, label=label)
        self._checked[target.origin] = target
        self._pins[_pin_key(*target.origin)] = target.addresses
        return target

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                data: bytes | None = None, timeout: float, follow_redirects: bool = True,
                label: str = "url", before_each: Callable[[], None] | None = None) -> requests.Response:
        """Send one request (and its redirects); the caller reads and closes the streamed response.
        `before_each` runs before every request of the chain (to raise when the caller must stop)."""
        method = method.upper()
        hop_headers = dict(headers or {})
        first_origin: tuple[str, str, int] | None = None
        hop_label = label
        for _hop in range(self.max_redirects + 1):
            target = self.check(url, label=hop_label)
            if before_each is not None:
                before_each()
            if first_origin is None:
                first_origin = target.origin
            elif target.origin != first_origin:
                hop_headers = {k: v for k, v in hop_headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            response = self._session.request(method, url, headers=hop_headers, data=data, timeout=timeout,
                                             allow_redirects=False, stream=True, verify=self.verify)
            location = self._session.get_redirect_target(response) if follow_redirects else None
            if not location:
                return response
            response.close()
            url = urljoin(url, location)
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, data = "GET", None
                hop_headers = {k: v for k, v in hop_headers.items() if k.lower() not in _BODY_HEADERS}
            hop_label = "redirect location"
        raise EgressRefused(f"more than {self.max_redirects} redirects")
