"""The egress policy: which network targets outbound HTTP made on a user's behalf may reach.

One rule for every such request (the `bk_http_request` component, task `callback_url`
delivery and its check at create time), so that the service cannot be turned into a way
into its own machine or network. Plain Python: the allow entries are passed in by the
caller (the Django setting SOPS_HTTP_ALLOWLIST), and so can the name resolver.

**Default.** Public (globally routable) addresses are open. Every other address is
refused: loopback, link-local (including the cloud metadata address 169.254.169.254),
private (RFC 1918), shared (100.64.0.0/10, CGNAT), IPv6 unique-local and site-local,
unspecified (0.0.0.0/8, ::), multicast, broadcast and the reserved/documentation/benchmark
ranges, and the IPv6 forms that carry such an IPv4 address (IPv4-mapped, IPv4-compatible,
IPv4-translated, NAT64, 6to4, Teredo). An IPv4 address is understood in every notation a
resolver or a browser accepts (`127.1`, `2130706433`, `0x7f.1`, `017700000001`).

**Allow entries** (SOPS_HTTP_ALLOWLIST, comma-separated in the environment) only ever
open; they never narrow what is public:

    host.example          that host name, any port
    *.corp.example        that domain and every name under it (`.corp.example` is the same)
    10.1.2.3, ::1         that address, whatever name leads to it
    10.0.0.0/8, fd00::/8  that network (IPv4 or IPv6 CIDR)
    entry:port            any of the above on that port only: `host.example:8080`,
                          `*.corp.example:443`, `10.0.0.0/8:8080`, `[::1]:8080`,
                          `[fd00::/8]:443` (IPv6 takes brackets when a port follows)

A name entry opens the private-class addresses its names resolve to (private, shared,
unique-local, site-local, reserved). Loopback, link-local, unspecified, multicast and
broadcast addresses are opened only by an address entry that contains them: a DNS
answer must never turn a name entry into a way to the worker's own loopback or to the
metadata endpoint. `*` is not an entry (public addresses need none; `0.0.0.0/0` and
`::/0` open every address, and say so).

**URLs.** Only http and https; no user name or password in the URL (put credentials in
a header: `http://a@127.0.0.1` and the parser tricks built on `@` are refused whole);
no backslash or control character. There is no list of allowed ports: the rule is
about addresses, an internal address is refused on every port, and which ports a
public host serves is that host's business. A name is resolved once per check
(getaddrinfo), EVERY address it resolves to must pass, and the caller connects only to
the addresses that passed (`pipeline_engine.core.egress_http`), so an answer that
changes between the check and the connect (DNS rebinding) is never used.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "SETTING",
    "AddressClass",
    "AllowRule",
    "CheckedTarget",
    "EgressConfigError",
    "EgressPolicy",
    "EgressRefused",
    "ParsedURL",
    "Resolver",
    "classify",
    "parse_allowlist",
    "parse_host",
    "parse_rule",
    "system_resolver",
]

SETTING = "SOPS_HTTP_ALLOWLIST"
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the name resolves to, as text.
Resolver = Callable[[str, int], Iterable[str]]


class EgressRefused(Exception):
    """A target the policy does not open. `permanent` is False when it may pass later (a name
    that did not resolve), True when asking again cannot help."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class EgressConfigError(ValueError):
    """An allow entry that cannot be understood."""


# --- address classes --------------------------------------------------------------------------

@dataclass(frozen=True)
class AddressClass:
    name: str
    description: str  # reads after "is": "a loopback address"
    opened_by_name: bool  # whether a host-name entry may open it (see the module docstring)


LOOPBACK = AddressClass("loopback", "a loopback address", False)
LINK_LOCAL = AddressClass("link-local", "a link-local address", False)
UNSPECIFIED = AddressClass("unspecified", "an unspecified (this-host) address", False)
MULTICAST = AddressClass("multicast", "a multicast address", False)
BROADCAST = AddressClass("broadcast", "the broadcast address", False)
PRIVATE = AddressClass("private", "a private address", True)
SHARED = AddressClass("shared", "a shared (carrier-grade NAT) address", True)
UNIQUE_LOCAL = AddressClass("unique-local", "a unique-local address", True)
SITE_LOCAL = AddressClass("site-local", "a site-local address", True)
RESERVED = AddressClass("reserved", "a reserved, non-public address", True)

_V4_CLASSES: list[tuple[ipaddress.IPv4Network, AddressClass]] = [
    (ipaddress.IPv4Network(net), cls) for net, cls in [
        ("0.0.0.0/8", UNSPECIFIED),  # "this network"; connecting to 0.0.0.0 reaches the local host
        ("127.0.0.0/8", LOOPBACK),
        ("169.254.0.0/16", LINK_LOCAL),
        ("10.0.0.0/8", PRIVATE),
        ("172.16.0.0/12", PRIVATE),
        ("192.168.0.0/16", PRIVATE),
        ("100.64.0.0/10", SHARED),  # RFC 6598
        ("224.0.0.0/4", MULTICAST),
        ("255.255.255.255/32", BROADCAST),
        ("240.0.0.0/4", RESERVED),
        ("192.0.0.0/24", RESERVED),  # IETF protocol assignments
        ("192.0.2.0/24", RESERVED),  # documentation (TEST-NET-1..3)
        ("198.51.100.0/24", RESERVED),
        ("203.0.113.0/24", RESERVED),
        ("198.18.0.0/15", RESERVED),  # benchmarking
        ("192.88.99.0/24", RESERVED),  # the retired 6to4 relay anycast
    ]
]
_V6_CLASSES: list[tuple[ipaddress.IPv6Network, AddressClass]] = [
    (ipaddress.IPv6Network(net), cls) for net, cls in [
        ("::/128", UNSPECIFIED),
        ("::1/128", LOOPBACK),
        ("fe80::/10", LINK_LOCAL),
        ("fc00::/7", UNIQUE_LOCAL),
        ("fec0::/10", SITE_LOCAL),
        ("ff00::/8", MULTICAST),
        ("64:ff9b:1::/48", PRIVATE),  # local-use NAT64 (RFC 8215)
        ("100::/64", RESERVED),  # discard-only
        ("2001:db8::/32", RESERVED),  # documentation
    ]
]
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


@dataclass(frozen=True)
class Verdict:
    """Why an address is not public: its class, and the IPv4 address it carries, if any."""

    address_class: AddressClass
    embedded: ipaddress.IPv4Address | None = None
    form: str = ""  # "an IPv4-mapped", "a NAT64", ...

    def describe(self) -> str:
        if self.embedded is None:
            return self.address_class.description
        return f"{self.form} form of {self.embedded} ({self.address_class.description})"


def _bare(address: IPAddress) -> IPAddress:
    """The address without an IPv6 zone id (`fe80::1%eth0` is `fe80::1` for every rule here)."""
    return address if address.version == 4 else ipaddress.IPv6Address(int(address))


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries and the form that carries it, or None."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    bare = _bare(address)
    low32 = ipaddress.IPv4Address(int(bare) & 0xFFFFFFFF)
    if bare in _V4_MAPPED:
        return low32, "an IPv4-mapped"
    if bare in _V4_TRANSLATED:
        return low32, "an IPv4-translated"
    if bare in _NAT64:
        return low32, "a NAT64"
    if bare in _V4_COMPATIBLE and int(bare) > 1:  # :: and ::1 are themselves, not IPv4
        return low32, "an IPv4-compatible"
    if bare in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(bare) >> 80) & 0xFFFFFFFF), "a 6to4"
    if bare in _TEREDO:
        # The client's address is stored inverted in the low 32 bits.
        return ipaddress.IPv4Address(~int(bare) & 0xFFFFFFFF), "a Teredo"
    return None


def classify(address: IPAddress) -> Verdict | None:
    """None for a public address; otherwise why it is not public."""
    carried = embedded_ipv4(address)
    if carried is not None:
        inner, form = carried
        verdict = classify(inner)
        if verdict is None and form == "a Teredo":
            # A Teredo address also names its server; both ends must be public.
            server = ipaddress.IPv4Address((int(address) >> 64) & 0xFFFFFFFF)
            verdict = classify(server)
            inner = server if verdict is not None else inner
        return None if verdict is None else Verdict(verdict.address_class, inner, form)
    if isinstance(address, ipaddress.IPv4Address):
        table: Sequence[tuple[IPNetwork, AddressClass]] = _V4_CLASSES
    else:
        address = _bare(address)
        table = _V6_CLASSES
    for network, address_class in table:
        if address in network:
            return Verdict(address_class)
    # Whatever else the standard library knows is not global (new IANA reservations).
    return None if address.is_global else Verdict(RESERVED)


# --- host text ----------------------------------------------------------------------------------

_NAME_RE = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


class _BadHost(ValueError):
    pass


_HEX, _OCTAL, _DECIMAL = re.compile(r"[0-9a-f]*"), re.compile(r"[0-7]+"), re.compile(r"[0-9]+")


def _ipv4_number(part: str) -> int:
    """One part of a (lower-case) IPv4 host in the notations resolvers accept: decimal, 0x hex
    (`0x` alone is 0), 0 octal."""
    if part.startswith("0x"):
        digits, base, pattern = part[2:], 16, _HEX
    elif len(part) > 1 and part.startswith("0"):
        digits, base, pattern = part[1:], 8, _OCTAL
    else:
        digits, base, pattern = part, 10, _DECIMAL
    if not pattern.fullmatch(digits):
        raise _BadHost
    return int(digits or "0", base)


def _ends_in_number(parts: list[str]) -> bool:
    last = parts[-1]
    if _DECIMAL.fullmatch(last):
        return True
    try:
        _ipv4_number(last)  # only a 0x number parses here: the decimal-looking ones returned above
    except _BadHost:
        return False
    return True


def _ipv4_host(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a lower-case host spelled with numbers means (WHATWG's IPv4 parser), None
    for a name; _BadHost when it ends in a number but is no valid address (`1.2.3.4.5`, `256.1.1.1`)."""
    parts = host.split(".")
    if not _ends_in_number(parts):
        return None
    if len(parts) > 4:
        raise _BadHost
    numbers = [_ipv4_number(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise _BadHost
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_host(text: str) -> tuple[str, IPAddress | None]:
    """(normalised host, its address when the host is an address). Raises ValueError for text
    that is no host: a name is lower-cased, IDNA-encoded, loses one trailing dot and may hold
    only letters, digits, `-`, `_` and dots."""
    host = text.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return host, ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid IPv6 address") from exc
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        try:
            host = host.encode("idna").decode()  # IDNA output is ASCII
        except UnicodeError as exc:
            raise ValueError(f"{text!r} is not a valid host name") from exc
    if not _NAME_RE.fullmatch(host) or len(host) > 253:
        raise ValueError(f"{text!r} is not a valid host name")
    try:
        address = _ipv4_host(host)
    except _BadHost as exc:
        raise ValueError(f"{text!r} is not a valid IPv4 address") from exc
    return host, address


# --- allow entries ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllowRule:
    """One parsed allow entry: a name, a domain, or a network, optionally on one port."""

    text: str
    name: str | None = None
    domain: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    @property
    def is_address(self) -> bool:
        return self.network is not None

    def matches_name(self, host: str) -> bool:
        if self.name is not None:
            return host == self.name
        if self.domain is not None:
            return host == self.domain or host.endswith("." + self.domain)
        return False

    def matches_address(self, address: IPAddress) -> bool:
        if self.network is None:
            return False
        if address.version == self.network.version:
            return _bare(address) in self.network
        carried = embedded_ipv4(address)
        return carried is not None and carried[0] in self.network

    def matches_port(self, port: int) -> bool:
        return self.port is None or self.port == port


def _split_port(entry: str) -> tuple[str, int | None]:
    """(what the entry names, its port); a bracketed body keeps its brackets."""
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            raise EgressConfigError(f"{SETTING} entry {entry!r} opens a bracket it does not close")
        body, rest = entry[:close + 1], entry[close + 1:]
        if rest == "":
            return body, None
        if not rest.startswith(":"):
            raise EgressConfigError(f"{SETTING} entry {entry!r}: only ':port' may follow ']'")
        return body, _port(entry, rest[1:])
    if entry.count(":") == 1:
        body, _, port = entry.partition(":")
        return body, _port(entry, port)
    return entry, None  # no port, or a bare IPv6 address/network (no port without brackets)


def _port(entry: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise EgressConfigError(f"{SETTING} entry {entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def parse_rule(entry: str) -> AllowRule:
    text = entry.strip()
    if not text:
        raise EgressConfigError(f"{SETTING} has an empty entry")
    if text == "*" or text.startswith("*:"):
        raise EgressConfigError(
            f"{SETTING} entry {text!r} is not accepted: public addresses need no entry, and internal "
            f"ones are opened one by one (write 0.0.0.0/0 and ::/0 to open every address on purpose)")
    body, port = _split_port(text)
    if body.startswith("["):
        body = body[1:-1]
        if "/" not in body and ":" not in body:
            raise EgressConfigError(f"{SETTING} entry {text!r}: brackets hold an IPv6 address or network")
    if "/" in body:
        try:
            network = ipaddress.ip_network(body, strict=False)
        except ValueError as exc:
            raise EgressConfigError(f"{SETTING} entry {text!r} is not a valid CIDR network") from exc
        return AllowRule(text, network=network, port=port)
    wildcard = body.startswith("*.") or body.startswith(".")
    name_text = body[2:] if body.startswith("*.") else body[1:] if body.startswith(".") else body
    try:
        host, address = parse_host(name_text)
    except ValueError as exc:
        raise EgressConfigError(f"{SETTING} entry {text!r}: {exc}") from exc
    if address is not None:
        if wildcard:
            raise EgressConfigError(f"{SETTING} entry {text!r}: a wildcard applies to names, not addresses")
        return AllowRule(text, network=ipaddress.ip_network(_bare(address)), port=port)
    if wildcard:
        return AllowRule(text, domain=host, port=port)
    return AllowRule(text, name=host, port=port)


def parse_allowlist(entries: str | Iterable[str] | None) -> tuple[AllowRule, ...]:
    """The rules of a setting value: a comma-separated string or a list of entries."""
    if entries is None:
        return ()
    if isinstance(entries, str):
        entries = entries.split(",")
    return tuple(parse_rule(str(e)) for e in entries if str(e).strip())


# --- the policy ---------------------------------------------------------------------------------

def system_resolver(host: str, port: int) -> list[str]:
    """Every address getaddrinfo gives for a TCP connection to host:port."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class ParsedURL:
    """Where a URL points, before any name is resolved."""

    scheme: str
    host: str
    port: int
    literal: IPAddress | None  # the address, when the host is written as one

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@dataclass(frozen=True)
class CheckedTarget:
    """A URL's target that passed the policy, and the only addresses one may connect to for it."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\\]")


class EgressPolicy:
    """Checks URLs against the default and the allow rules; see the module docstring."""

    def __init__(self, rules: Iterable[AllowRule] = (), *, resolver: Resolver | None = None,
                 setting: str = SETTING) -> None:
        self.rules = tuple(rules)
        self.resolver = resolver or system_resolver
        self.setting = setting

    @classmethod
    def from_entries(cls, entries: str | Iterable[str] | None, *, resolver: Resolver | None = None
                     ) -> EgressPolicy:
        return cls(parse_allowlist(entries), resolver=resolver)

    def check_url(self, url: str, *, label: str = "url") -> CheckedTarget:
        """The checked target of `url`, or EgressRefused naming the rule that refuses it."""
        return self.check(self.parse_url(url, label=label), label=label)

    def check(self, target: ParsedURL, *, label: str = "url") -> CheckedTarget:
        """Resolve a parsed URL's host (unless it is an address) and check every address."""
        if target.literal is not None:
            self._check_address(target.literal, host=target.host, port=target.port, label=label, literal=True)
            return CheckedTarget(target.scheme, target.host, target.port, (str(target.literal),))
        addresses = self._resolve(target.host, target.port, label)
        for address in addresses:
            self._check_address(address, host=target.host, port=target.port, label=label, literal=False)
        return CheckedTarget(target.scheme, target.host, target.port, tuple(str(a) for a in addresses))

    def parse_url(self, url: str, *, label: str = "url") -> ParsedURL:
        """The scheme, normalised host and port of `url`, refusing what no rule could open."""
        if not isinstance(url, str) or not url.strip():
            raise EgressRefused(f"{label} must be an http:// or https:// URL")
        if _CONTROL_RE.search(url):
            raise EgressRefused(f"{label} must not contain a backslash or a control character")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise EgressRefused(f"{label} {url!r} is not a valid URL: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise EgressRefused(f"{label} must start with http:// or https://")
        if "@" in parts.netloc:
            raise EgressRefused(f"{label} must not carry a user name or password; send credentials in a header")
        if not parts.hostname:
            raise EgressRefused(f"{label} {url!r} has no host")
        if port == 0:
            raise EgressRefused(f"{label} port 0 is not a port one can connect to")
        try:
            host, literal = parse_host(parts.hostname)
        except ValueError as exc:
            raise EgressRefused(f"{label} host[{parts.hostname}]: {exc}") from exc
        return ParsedURL(scheme, host, port or DEFAULT_PORTS[scheme], literal)

    def _resolve(self, host: str, port: int, label: str) -> list[IPAddress]:
        try:
            answers = list(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise EgressRefused(f"{label} host[{host}] cannot be resolved: {exc}", permanent=False) from exc
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(str(answer))
            except ValueError as exc:
                raise EgressRefused(f"{label} host[{host}] resolves to {answer!r}, which is not an address"
                                    ) from exc
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise EgressRefused(f"{label} host[{host}] resolves to no address", permanent=False)
        return addresses

    def _check_address(self, address: IPAddress, *, host: str, port: int, label: str, literal: bool) -> None:
        verdict = classify(address)
        if verdict is None:
            return
        address_rules = [r for r in self.rules if r.matches_address(address)]
        name_rules = [r for r in self.rules if r.matches_name(host)]
        if verdict.address_class.opened_by_name:
            candidates = address_rules + name_rules
        else:
            candidates = address_rules
        if any(r.matches_port(port) for r in candidates):
            return
        description = verdict.describe()
        if not literal:
            subject = f"resolves to {address}, {description}"
        elif host == str(address):
            subject = f"is {description}"
        else:
            subject = f"is {address}, {description}"
        message = f"{label} host[{host}] {subject}, which {self.setting} does not open"
        ported = sorted({r.port for r in candidates if r.port is not None})
        if ported:
            message += f" on port {port} (its entries open it on port {', '.join(map(str, ported))} only)"
        elif name_rules and not verdict.address_class.opened_by_name:
            message += (f" (entry {name_rules[0].text!r} names the host, but {verdict.address_class.name} "
                        f"addresses are opened only by an address entry such as {verdict.embedded or _bare(address)})")
        raise EgressRefused(message)
