"""The egress policy (pipeline_engine.core.egress): one table of targets, refused by default,
opened by the entry that matches, not by one that does not. No socket is opened here: names
go through resolvers the tests give."""
from __future__ import annotations

import ipaddress

import pytest

from pipeline_engine.core import egress
from pipeline_engine.core.egress import (
    EgressConfigError,
    EgressPolicy,
    EgressRefused,
    classify,
    parse_allowlist,
    parse_host,
    parse_rule,
)

NOT_OPEN = "which SOPS_HTTP_ALLOWLIST does not open"


class FakeDNS:
    """A resolver the test controls: a table of answers, and a log of the questions."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return list(self.answers[host])


DNS = {
    "localhost": ["127.0.0.1"],
    "meta.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "127.0.0.1"],  # one public answer does not save a loopback one
    "corp.example": ["10.1.2.3"],
    "www.corp.example": ["10.1.2.4"],
    "api.corp.example": ["10.1.2.5"],
    "v6only.example": ["fd00::5"],
    "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
}


def policy(*entries: str, dns: FakeDNS | None = None) -> EgressPolicy:
    return EgressPolicy.from_entries(list(entries), resolver=dns or FakeDNS(DNS))


# (url, message fragment when refused by default, an entry that opens it, an entry that does not)
REFUSED = [
    # loopback in every notation
    ("http://127.0.0.1/", "host[127.0.0.1] is a loopback address", "127.0.0.1", "127.0.0.2"),
    ("http://127.0.0.1:8000/admin/login/", "host[127.0.0.1] is a loopback address", "127.0.0.1:8000",
     "127.0.0.1:8001"),
    ("http://127.1/", "host[127.1] is 127.0.0.1, a loopback address", "127.0.0.0/8", "10.0.0.0/8"),
    ("http://127.0.1/", "host[127.0.1] is 127.0.0.1, a loopback address", "127.0.0.1/32", "128.0.0.0/8"),
    ("http://2130706433/", "host[2130706433] is 127.0.0.1, a loopback address", "127.0.0.1", "127.0.0.3"),
    ("http://0x7f.1/", "host[0x7f.1] is 127.0.0.1, a loopback address", "127.0.0.1", "0x7f.2"),
    ("http://0x7f000001/", "host[0x7f000001] is 127.0.0.1, a loopback address", "127.0.0.1", "::1"),
    ("http://017700000001/", "host[017700000001] is 127.0.0.1, a loopback address", "127.0.0.1", "127.0.0.9"),
    ("http://0177.0.0.1/", "host[0177.0.0.1] is 127.0.0.1, a loopback address", "127.0.0.1", "177.0.0.1"),
    ("http://127.0.0.1./", "host[127.0.0.1] is a loopback address", "127.0.0.1", "127.0.0.4"),
    ("http://LOCALHOST:8000/admin/login/", "host[localhost] resolves to 127.0.0.1, a loopback address",
     "127.0.0.1", "localhost"),  # a name entry never opens loopback
    ("http://localhost./", "host[localhost] resolves to 127.0.0.1, a loopback address", "127.0.0.1:80",
     "127.0.0.1:81"),
    ("http://[::1]/", "host[::1] is a loopback address", "::1", "::2"),
    ("http://[::1]:8080/", "host[::1] is a loopback address", "[::1]:8080", "[::1]:8081"),
    ("http://[0:0:0:0:0:0:0:1]/", "host[0:0:0:0:0:0:0:1] is ::1, a loopback address", "::1/128", "::2/128"),
    # IPv6 forms that carry a loopback IPv4 address
    ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped form of 127.0.0.1 (a loopback address)", "127.0.0.1",
     "::1"),
    ("http://[::ffff:7f00:1]/", "host[::ffff:7f00:1] is an IPv4-mapped form of 127.0.0.1 (a loopback address)",
     "::ffff:7f00:1", "::ffff:7f00:2"),
    ("http://[::ffff:0:7f00:1]/", "an IPv4-translated form of 127.0.0.1", "127.0.0.0/8", "::ffff:0:0/96"),
    ("http://[::127.0.0.1]/", "an IPv4-compatible form of 127.0.0.1", "127.0.0.1", "::127.0.0.2"),
    ("http://[64:ff9b::7f00:1]/", "a NAT64 form of 127.0.0.1", "64:ff9b::/96", "127.0.0.2"),
    ("http://[2002:7f00:1::]/", "a 6to4 form of 127.0.0.1", "2002::/16", "2003::/16"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "a Teredo form of 127.0.0.1", "127.0.0.1",
     "2001:db8::/32"),
    # link-local and the metadata endpoint
    ("http://169.254.169.254/latest/meta-data/", "host[169.254.169.254] is a link-local address",
     "169.254.169.254", "169.254.169.253"),
    ("http://0xa9fea9fe/", "host[0xa9fea9fe] is 169.254.169.254, a link-local address", "169.254.0.0/16",
     "169.255.0.0/16"),
    ("http://[::ffff:169.254.169.254]/", "an IPv4-mapped form of 169.254.169.254 (a link-local address)",
     "169.254.169.254", "169.254.169.0/31"),
    ("http://meta.example/", "host[meta.example] resolves to 169.254.169.254, a link-local address",
     "169.254.169.254", "*.example"),  # a name entry never opens link-local
    ("http://[fe80::1]/", "host[fe80::1] is a link-local address", "fe80::/10", "fc00::/7"),
    ("http://[fe80::1%25eth0]/", "a link-local address", "fe80::/64", "fe80:1::/64"),
    # private, shared, unique-local, site-local
    ("http://10.1.2.3/", "host[10.1.2.3] is a private address", "10.0.0.0/8", "11.0.0.0/8"),
    ("http://172.16.5.5/", "host[172.16.5.5] is a private address", "172.16.0.0/12", "172.32.0.0/12"),
    ("http://172.31.255.255/", "host[172.31.255.255] is a private address", "172.16.0.0/12", "172.15.0.0/16"),
    ("http://192.168.1.1/", "host[192.168.1.1] is a private address", "192.168.1.1", "192.168.1.2"),
    ("http://100.64.0.1/", "host[100.64.0.1] is a shared (carrier-grade NAT) address", "100.64.0.0/10",
     "100.128.0.0/10"),
    ("http://100.127.255.254/", "a shared (carrier-grade NAT) address", "100.64.0.0/10", "100.0.0.0/10"),
    ("http://[fd12:3456::1]/", "host[fd12:3456::1] is a unique-local address", "fd00::/8", "fe00::/8"),
    ("http://[fc00::1]/", "host[fc00::1] is a unique-local address", "fc00::/7", "fd00::/8"),
    ("http://[fec0::1]/", "host[fec0::1] is a site-local address", "fec0::/10", "fe80::/10"),
    ("http://[64:ff9b:1::a]/", "host[64:ff9b:1::a] is a private address", "64:ff9b:1::/48", "64:ff9b::/96"),
    ("http://corp.example/", "host[corp.example] resolves to 10.1.2.3, a private address", "corp.example",
     "other.example"),
    ("http://www.corp.example/", "resolves to 10.1.2.4, a private address", "*.corp.example", "*.corp.example.org"),
    ("http://www.corp.example/", "resolves to 10.1.2.4, a private address", ".corp.example", "www.corp.example:81"),
    ("http://api.corp.example:8443/", "resolves to 10.1.2.5, a private address", "api.corp.example:8443",
     "api.corp.example:443"),
    ("http://v6only.example/", "resolves to fd00::5, a unique-local address", "[fd00::/8]:80", "[fd00::/8]:443"),
    # unspecified
    ("http://0.0.0.0/", "host[0.0.0.0] is an unspecified (this-host) address", "0.0.0.0", "0.0.0.1"),
    ("http://0/", "host[0] is 0.0.0.0, an unspecified (this-host) address", "0.0.0.0/8", "1.0.0.0/8"),
    ("http://[::]/", "host[::] is an unspecified (this-host) address", "::/128", "::1/128"),
    # multicast, broadcast, reserved
    ("http://224.0.0.1/", "host[224.0.0.1] is a multicast address", "224.0.0.0/4", "240.0.0.0/4"),
    ("http://[ff02::1]/", "host[ff02::1] is a multicast address", "ff00::/8", "fe00::/8"),
    ("http://255.255.255.255/", "host[255.255.255.255] is the broadcast address", "255.255.255.255",
     "255.255.255.254"),
    ("http://240.0.0.1/", "host[240.0.0.1] is a reserved, non-public address", "240.0.0.0/4", "224.0.0.0/4"),
    ("http://192.0.2.10/", "host[192.0.2.10] is a reserved, non-public address", "192.0.2.0/24", "192.0.3.0/24"),
    ("http://198.18.0.1/", "host[198.18.0.1] is a reserved, non-public address", "198.18.0.0/15", "198.20.0.0/15"),
    ("http://[2001:db8::1]/", "host[2001:db8::1] is a reserved, non-public address", "2001:db8::/32",
     "2001:db9::/32"),
    ("http://[100::1]/", "host[100::1] is a reserved, non-public address", "100::/64", "100:0:0:1::/64"),
    # every answer counts: one public address does not open a name that also resolves to loopback
    ("http://mixed.example/", "host[mixed.example] resolves to 127.0.0.1, a loopback address", "127.0.0.1",
     "mixed.example"),
]


def _ids(rows):
    return [f"{row[0]}|{row[2]}" for row in rows]


@pytest.mark.parametrize("url, fragment, opening, other", REFUSED, ids=_ids(REFUSED))
def test_refused_by_default_with_the_rule_in_the_message(url, fragment, opening, other):
    with pytest.raises(EgressRefused) as refused:
        policy().check_url(url)
    message = str(refused.value)
    assert message.startswith("url host[")
    assert fragment in message
    assert NOT_OPEN in message
    assert refused.value.permanent is True


@pytest.mark.parametrize("url, fragment, opening, other", REFUSED, ids=_ids(REFUSED))
def test_opened_by_the_matching_entry(url, fragment, opening, other):
    target = policy(opening).check_url(url)
    assert target.scheme == "http" and target.addresses


@pytest.mark.parametrize("url, fragment, opening, other", REFUSED, ids=_ids(REFUSED))
def test_not_opened_by_an_entry_that_does_not_match(url, fragment, opening, other):
    with pytest.raises(EgressRefused) as refused:
        policy(other).check_url(url)
    assert fragment in str(refused.value)


PUBLIC = [
    ("http://93.184.216.34/", ("93.184.216.34",)),
    ("https://93.184.216.34:8443/x", ("93.184.216.34",)),
    ("http://8.8.8.8:22/", ("8.8.8.8",)),  # no port list: ports of a public host are its own business
    ("http://1.1.1.1:65535/", ("1.1.1.1",)),
    ("http://134744072/", ("8.8.8.8",)),
    ("http://0x8.0x8.0x8.0x8/", ("8.8.8.8",)),
    ("http://100.63.255.255/", ("100.63.255.255",)),  # just below the shared range
    ("http://100.128.0.0/", ("100.128.0.0",)),  # just above it
    ("http://172.15.255.255/", ("172.15.255.255",)),
    ("http://172.32.0.0/", ("172.32.0.0",)),
    ("http://169.255.0.1/", ("169.255.0.1",)),
    ("http://126.255.255.255/", ("126.255.255.255",)),
    ("http://128.0.0.0/", ("128.0.0.0",)),
    ("http://[2606:4700:4700::1111]/", ("2606:4700:4700::1111",)),
    ("http://[::ffff:8.8.8.8]/", ("::ffff:808:808",)),
    ("http://[2002:808:808::1]/", ("2002:808:808::1",)),
    ("http://public.example/", ("93.184.216.34", "2606:2800:220:1::1")),
    ("HTTPS://Public.Example./path", ("93.184.216.34", "2606:2800:220:1::1")),
]


@pytest.mark.parametrize("url, addresses", PUBLIC, ids=[p[0] for p in PUBLIC])
def test_public_addresses_are_open_without_entries(url, addresses):
    target = policy().check_url(url)
    assert target.addresses == addresses


def test_checked_target_carries_scheme_host_port_and_origin():
    target = policy().check_url("HTTPS://Public.Example./a?b=c")
    assert (target.scheme, target.host, target.port) == ("https", "public.example", 443)
    assert target.origin == ("https", "public.example", 443)
    assert policy().check_url("http://public.example/").port == 80
    assert policy().check_url("http://public.example:8080/").port == 8080


BAD_URLS = [
    ("ftp://93.184.216.34/x", "must start with http:// or https://"),
    ("file:///etc/passwd", "must start with http:// or https://"),
    ("gopher://127.0.0.1:6379/_INFO", "must start with http:// or https://"),
    ("javascript:alert(1)", "must start with http:// or https://"),
    ("//93.184.216.34/x", "must start with http:// or https://"),
    ("", "must be an http:// or https:// URL"),
    ("   ", "must be an http:// or https:// URL"),
    ("http://a@127.0.0.1/", "must not carry a user name or password"),
    ("http://user:pw@93.184.216.34/", "must not carry a user name or password"),
    ("http://93.184.216.34@127.0.0.1/", "must not carry a user name or password"),
    ("http://93.184.216.34:80@127.0.0.1/", "must not carry a user name or password"),
    ("http://93.184.216.34\\@127.0.0.1/", "must not contain a backslash or a control character"),
    ("http://127.0.0.1\t.public.example/", "must not contain a backslash or a control character"),
    ("http://public.example\r\nHost: 127.0.0.1/", "must not contain a backslash or a control character"),
    ("http:///path", "has no host"),
    ("http://93.184.216.34:0/", "port 0 is not a port one can connect to"),
    ("http://93.184.216.34:65536/", "is not a valid URL"),
    ("http://93.184.216.34:http/", "is not a valid URL"),
    ("http://[::1/", "is not a valid URL"),
    ("http://1.2.3.4.5/", "'1.2.3.4.5' is not a valid IPv4 address"),
    ("http://1.2.3.4.0/", "'1.2.3.4.0' is not a valid IPv4 address"),
    ("http://1.2.256.4/", "'1.2.256.4' is not a valid IPv4 address"),
    ("http://1.256.3/", "'1.256.3' is not a valid IPv4 address"),
    ("http://1.2.3.08/", "'1.2.3.08' is not a valid IPv4 address"),
    ("http://256.0.0.1/", "'256.0.0.1' is not a valid IPv4 address"),
    ("http://1.2.3.256/", "'1.2.3.256' is not a valid IPv4 address"),
    ("http://1.2.65536/", "'1.2.65536' is not a valid IPv4 address"),
    ("http://4294967296/", "'4294967296' is not a valid IPv4 address"),
    ("http://0x100.0.0.1/", "'0x100.0.0.1' is not a valid IPv4 address"),
    ("http://08.0.0.1/", "'08.0.0.1' is not a valid IPv4 address"),
    ("http://0xg.1/", "'0xg.1' is not a valid IPv4 address"),
    ("http://%31%32%37.0.0.1/", "is not a valid host name"),
    ("http://exa mple.com/", "is not a valid host name"),
    ("http://a..b/", "is not a valid host name"),
]


@pytest.mark.parametrize("url, fragment", BAD_URLS, ids=[b[0] for b in BAD_URLS])
def test_urls_no_entry_can_open_are_refused(url, fragment):
    dns = FakeDNS(DNS)
    with pytest.raises(EgressRefused) as refused:
        EgressPolicy.from_entries(["0.0.0.0/0", "::/0"], resolver=dns).check_url(url)
    assert fragment in str(refused.value)
    assert dns.asked == []


def test_the_label_names_what_was_checked():
    with pytest.raises(EgressRefused, match=r"^callback_url host\[localhost\] resolves to 127\.0\.0\.1"):
        policy().check_url("http://localhost/hook", label="callback_url")
    with pytest.raises(EgressRefused, match=r"^callback_url must start with http"):
        policy().check_url("ftp://x/", label="callback_url")


def test_the_setting_name_is_the_one_given():
    strict = EgressPolicy((), resolver=FakeDNS(DNS), setting="MY_LIST")
    with pytest.raises(EgressRefused, match="which MY_LIST does not open"):
        strict.check_url("http://127.0.0.1/")
    assert egress.SETTING == "SOPS_HTTP_ALLOWLIST"


# --- names: resolved once, every answer checked ---------------------------------------------------

def test_a_name_is_resolved_once_with_its_port_and_every_answer_is_kept():
    dns = FakeDNS(DNS)
    target = EgressPolicy((), resolver=dns).check_url("https://public.example:8443/x")
    assert dns.asked == [("public.example", 8443)]
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")


def test_address_literals_are_never_resolved():
    dns = FakeDNS(DNS)
    EgressPolicy((), resolver=dns).check_url("http://93.184.216.34/")
    EgressPolicy((), resolver=dns).check_url("http://[2606:4700:4700::1111]/")
    with pytest.raises(EgressRefused):
        EgressPolicy((), resolver=dns).check_url("http://0x7f.1/")
    assert dns.asked == []


def test_duplicate_answers_are_kept_once():
    dns = FakeDNS({"twice.example": ["93.184.216.34", "93.184.216.34", "93.184.216.35"]})
    assert EgressPolicy((), resolver=dns).check_url("http://twice.example/").addresses == (
        "93.184.216.34", "93.184.216.35")


def test_a_resolver_that_cannot_encode_the_name_is_a_resolution_failure():
    def resolver(host: str, port: int) -> list[str]:
        raise UnicodeError("label too long")
    with pytest.raises(EgressRefused) as refused:
        EgressPolicy((), resolver=resolver).check_url("http://x.example/")
    assert str(refused.value) == "url host[x.example] cannot be resolved: label too long"
    assert refused.value.permanent is False


def test_parsed_urls_know_their_origin():
    parsed = policy().parse_url("HTTPS://Public.Example:8443/x", label="url")
    assert parsed.origin == ("https", "public.example", 8443) and parsed.literal is None
    assert str(policy().parse_url("http://0x7f.1/").literal) == "127.0.0.1"


@pytest.mark.parametrize("text", ["[::1", "::1]", "[127.0.0.1", "a" * 64 + "é.example", "é" * 70])
def test_text_that_is_no_host_is_refused(text):
    with pytest.raises(ValueError, match=r"is not a valid (host name|IPv6 address)"):
        parse_host(text)


def test_a_name_longer_than_dns_allows_is_refused():
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(longest) == 253 and parse_host(longest) == (longest, None)
    with pytest.raises(ValueError, match="is not a valid host name"):
        parse_host(longest + "b")


def test_a_name_that_does_not_resolve_is_refused_for_now():
    with pytest.raises(EgressRefused) as refused:
        policy().check_url("http://nowhere.example/")
    assert "host[nowhere.example] cannot be resolved" in str(refused.value)
    assert refused.value.permanent is False


def test_a_name_with_no_answer_is_refused_for_now():
    with pytest.raises(EgressRefused) as refused:
        EgressPolicy((), resolver=FakeDNS({"empty.example": []})).check_url("http://empty.example/")
    assert "host[empty.example] resolves to no address" in str(refused.value)
    assert refused.value.permanent is False


def test_an_answer_that_is_no_address_is_refused():
    with pytest.raises(EgressRefused) as refused:
        EgressPolicy((), resolver=FakeDNS({"odd.example": ["not-an-ip"]})).check_url("http://odd.example/")
    assert "resolves to 'not-an-ip', which is not an address" in str(refused.value)
    assert refused.value.permanent is True


def test_unicode_names_are_idna_encoded_before_resolving():
    dns = FakeDNS({"xn--bcher-kva.example": ["93.184.216.34"]})
    target = EgressPolicy((), resolver=dns).check_url("http://bücher.example/")
    assert target.host == "xn--bcher-kva.example" and dns.asked == [("xn--bcher-kva.example", 80)]


def test_the_system_resolver_answers_each_address_once_for_a_stream_socket():
    assert egress.system_resolver("127.0.0.2", 8080) == ["127.0.0.2"]
    assert egress.system_resolver("::1", 80) == ["::1"]


def test_checked_targets_name_the_host_as_written_and_the_addresses_to_use():
    assert policy("127.0.0.1").check_url("http://0x7f.1:81/x") == egress.CheckedTarget(
        "http", "0x7f.1", 81, ("127.0.0.1",))
    assert policy().check_url("https://public.example/") == egress.CheckedTarget(
        "https", "public.example", 443, ("93.184.216.34", "2606:2800:220:1::1"))
    assert policy().check_url("http://[2606:4700:4700::1111]:8080/") == egress.CheckedTarget(
        "http", "2606:4700:4700::1111", 8080, ("2606:4700:4700::1111",))


def test_the_system_resolver_answers_addresses_for_localhost():
    assert "127.0.0.1" in egress.system_resolver("localhost", 80) or "::1" in egress.system_resolver(
        "localhost", 80)
    with pytest.raises(EgressRefused, match=r"host\[localhost\] resolves to"):
        EgressPolicy(()).check_url("http://localhost:8000/admin/login/")


# --- what a name entry may open ------------------------------------------------------------------

BY_NAME = [
    ("10.0.0.7", True), ("172.20.0.1", True), ("192.168.0.7", True), ("100.64.1.1", True),
    ("fd00::7", True), ("fec0::7", True), ("192.0.2.7", True), ("240.0.0.7", True),
    ("127.0.0.1", False), ("127.8.8.8", False), ("::1", False), ("169.254.169.254", False),
    ("fe80::7", False), ("0.0.0.0", False), ("::", False), ("224.0.0.7", False), ("ff02::7", False),
    ("255.255.255.255", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.7", True),
]


@pytest.mark.parametrize("answer, opened", BY_NAME, ids=[b[0] for b in BY_NAME])
def test_a_name_entry_opens_private_classes_but_never_loopback_or_link_local(answer, opened):
    dns = FakeDNS({"svc.internal": [answer]})
    for entry in ("svc.internal", "*.internal", ".internal", "svc.internal:80"):
        check = EgressPolicy.from_entries([entry], resolver=dns)
        if opened:
            assert check.check_url("http://svc.internal/").addresses == (str(ipaddress.ip_address(answer)),)
        else:
            with pytest.raises(EgressRefused) as refused:
                check.check_url("http://svc.internal/")
            assert f"entry {entry!r} names the host" in str(refused.value)
            assert "addresses are opened only by an address entry such as" in str(refused.value)


def test_the_hint_names_the_address_to_open():
    with pytest.raises(EgressRefused) as refused:
        policy("localhost").check_url("http://localhost/")
    assert str(refused.value) == (
        "url host[localhost] resolves to 127.0.0.1, a loopback address, which SOPS_HTTP_ALLOWLIST does not open "
        "(entry 'localhost' names the host, but loopback addresses are opened only by an address entry "
        "such as 127.0.0.1)")
    with pytest.raises(EgressRefused) as mapped:
        EgressPolicy.from_entries(["m.example"], resolver=FakeDNS({"m.example": ["::ffff:127.0.0.1"]})).check_url(
            "http://m.example/")
    assert "such as 127.0.0.1)" in str(mapped.value)


def test_an_entry_on_another_port_says_which_port_it_opens():
    with pytest.raises(EgressRefused) as refused:
        policy("127.0.0.1:8080", "127.0.0.0/8:9090").check_url("http://127.0.0.1:8000/")
    assert str(refused.value) == (
        "url host[127.0.0.1] is a loopback address, which SOPS_HTTP_ALLOWLIST does not open on port 8000 "
        "(its entries open it on port 8080, 9090 only)")


def test_an_entry_without_a_port_opens_every_port():
    for port in (80, 443, 8000, 65535):
        assert policy("10.0.0.0/8").check_url(f"http://10.9.9.9:{port}/").port == port


def test_the_port_of_a_url_without_one_is_the_schemes():
    assert policy("10.0.0.1:443").check_url("https://10.0.0.1/").port == 443
    with pytest.raises(EgressRefused):
        policy("10.0.0.1:443").check_url("http://10.0.0.1/")
    assert policy("10.0.0.1:80").check_url("http://10.0.0.1/").port == 80


def test_entries_match_names_by_label_not_by_text():
    dns = FakeDNS({"evilcorp.example": ["10.0.0.1"], "corp.example.evil": ["10.0.0.1"],
                   "corp.example": ["10.0.0.1"], "a.b.corp.example": ["10.0.0.1"], "x.api.example": ["10.0.0.1"],
                   "api.example": ["10.0.0.1"]})
    domain = EgressPolicy.from_entries(["*.corp.example", "api.example"], resolver=dns)
    assert domain.check_url("http://corp.example/").addresses == ("10.0.0.1",)
    assert domain.check_url("http://a.b.corp.example/").addresses == ("10.0.0.1",)
    assert domain.check_url("http://api.example/").addresses == ("10.0.0.1",)
    for host in ("evilcorp.example", "corp.example.evil", "x.api.example"):
        with pytest.raises(EgressRefused):
            domain.check_url(f"http://{host}/")


def test_entries_only_open_they_never_narrow_public_targets():
    assert policy("10.0.0.1").check_url("http://93.184.216.34/").addresses == ("93.184.216.34",)
    assert policy("10.0.0.1:8080").check_url("http://public.example:9999/").port == 9999


def test_one_entry_of_several_is_enough():
    assert policy("192.168.0.0/16", "10.0.0.0/8").check_url("http://10.1.1.1/").addresses == ("10.1.1.1",)
    assert policy("10.0.0.0/8", "192.168.0.0/16").check_url("http://10.1.1.1/").addresses == ("10.1.1.1",)


def test_every_address_of_a_name_must_pass():
    dns = FakeDNS({"two.example": ["10.0.0.1", "10.0.0.2"]})
    with pytest.raises(EgressRefused, match=r"resolves to 10\.0\.0\.2, a private address"):
        EgressPolicy.from_entries(["10.0.0.1"], resolver=dns).check_url("http://two.example/")
    assert EgressPolicy.from_entries(["10.0.0.1", "10.0.0.2"], resolver=dns).check_url(
        "http://two.example/").addresses == ("10.0.0.1", "10.0.0.2")


# --- parsing entries --------------------------------------------------------------------------

ENTRIES = [
    ("api.example", dict(name="api.example")),
    ("API.Example.", dict(name="api.example")),
    ("*.corp.example", dict(domain="corp.example")),
    (".corp.example", dict(domain="corp.example")),
    ("*.corp.example:443", dict(domain="corp.example", port=443)),
    ("api.example:8080", dict(name="api.example", port=8080)),
    ("10.1.2.3", dict(network="10.1.2.3/32")),
    ("10.1.2.3:8080", dict(network="10.1.2.3/32", port=8080)),
    ("127.1", dict(network="127.0.0.1/32")),
    ("10.0.0.0/8", dict(network="10.0.0.0/8")),
    ("10.1.2.3/8", dict(network="10.0.0.0/8")),
    ("10.0.0.0/8:8080", dict(network="10.0.0.0/8", port=8080)),
    ("::1", dict(network="::1/128")),
    ("fd00::/8", dict(network="fd00::/8")),
    ("[::1]", dict(network="::1/128")),
    ("[::1]:8080", dict(network="::1/128", port=8080)),
    ("[fd00::/8]:443", dict(network="fd00::/8", port=443)),
    ("  10.0.0.1  ", dict(network="10.0.0.1/32")),
    ("host:1", dict(name="host", port=1)),
    ("host:65535", dict(name="host", port=65535)),
]


@pytest.mark.parametrize("entry, fields", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_entries_parse(entry, fields):
    rule = parse_rule(entry)
    assert rule.text == entry.strip()
    assert rule.name == fields.get("name")
    assert rule.domain == fields.get("domain")
    assert rule.network == (ipaddress.ip_network(fields["network"]) if "network" in fields else None)
    assert rule.port == fields.get("port")
    assert rule.is_address is ("network" in fields)


BAD_ENTRIES = [
    ("*", "is not accepted: public addresses need no entry"),
    ("*:80", "is not accepted"),
    ("10.0.0.0/33", "is not a valid CIDR network"),
    ("10.0.0.0/8/8", "is not a valid CIDR network"),
    ("[::1", "opens a bracket it does not close"),
    ("[::1]x", "only ':port' may follow ']'"),
    ("[::1]]:80", "only ':port' may follow ']'"),  # the first ']' closes the bracket
    ("[::1]:", "the port must be a number from 1 to 65535"),
    ("host:0", "the port must be a number from 1 to 65535"),
    ("host:65536", "the port must be a number from 1 to 65535"),
    ("host:http", "the port must be a number from 1 to 65535"),
    ("host:-1", "the port must be a number from 1 to 65535"),
    ("*.10.0.0.1", "a wildcard applies to names, not addresses"),
    ("a b", "is not a valid host name"),
    ("1.2.3.4.5", "is not a valid IPv4 address"),
    ("[not-v6]", "brackets hold an IPv6 address or network"),
    ("[1.2.3.4]", "brackets hold an IPv6 address or network"),
    ("[zz::1]", "is not a valid IPv6 address"),
    ("", "has an empty entry"),
]


@pytest.mark.parametrize("entry, fragment", BAD_ENTRIES, ids=[b[0] or "empty" for b in BAD_ENTRIES])
def test_bad_entries_are_refused_with_the_reason(entry, fragment):
    with pytest.raises(EgressConfigError) as bad:
        parse_rule(entry)
    assert fragment in str(bad.value)
    assert "SOPS_HTTP_ALLOWLIST" in str(bad.value)


def test_an_allowlist_is_a_comma_separated_string_or_a_list():
    assert [r.text for r in parse_allowlist("10.0.0.0/8, *.corp.example ,,[::1]:80")] == [
        "10.0.0.0/8", "*.corp.example", "[::1]:80"]
    assert [r.text for r in parse_allowlist(["a.example", " ", "b.example"])] == ["a.example", "b.example"]
    assert parse_allowlist(None) == () and parse_allowlist("") == () and parse_allowlist([]) == ()
    with pytest.raises(EgressConfigError):
        parse_allowlist("10.0.0.0/8,*")


def test_wildcard_and_leading_dot_are_the_same_rule():
    star, dot = parse_rule("*.corp.example"), parse_rule(".corp.example")
    for host in ("corp.example", "a.corp.example", "evilcorp.example", "corp.example.org"):
        assert star.matches_name(host) == dot.matches_name(host)
    assert star.matches_name("a.corp.example") and not star.matches_name("evilcorp.example")


def test_address_entries_match_embedded_ipv4_but_not_other_families():
    rule = parse_rule("127.0.0.0/8")
    assert rule.matches_address(ipaddress.ip_address("127.0.0.5"))
    assert rule.matches_address(ipaddress.ip_address("::ffff:127.0.0.5"))
    assert not rule.matches_address(ipaddress.ip_address("::1"))
    assert not rule.matches_address(ipaddress.ip_address("128.0.0.1"))
    assert not parse_rule("::1").matches_address(ipaddress.ip_address("127.0.0.1"))
    assert parse_rule("fe80::/10").matches_address(ipaddress.ip_address("fe80::1%eth0"))
    assert not parse_rule("a.example").matches_address(ipaddress.ip_address("127.0.0.1"))
    assert not parse_rule("10.0.0.1").matches_name("10.0.0.1")


def test_port_matching():
    assert parse_rule("a.example").matches_port(1) and parse_rule("a.example").matches_port(65535)
    assert parse_rule("a.example:8080").matches_port(8080)
    assert not parse_rule("a.example:8080").matches_port(8081)


# --- hosts and addresses ---------------------------------------------------------------------------

HOSTS = [
    ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
    ("127.1", "127.1", "127.0.0.1"),
    ("127.0.1", "127.0.1", "127.0.0.1"),
    ("2130706433", "2130706433", "127.0.0.1"),
    ("0x7f.1", "0x7f.1", "127.0.0.1"),
    ("0X7F.0X0.0X0.0X1", "0x7f.0x0.0x0.0x1", "127.0.0.1"),
    ("0x7f000001", "0x7f000001", "127.0.0.1"),
    ("017700000001", "017700000001", "127.0.0.1"),
    ("0177.0.0.01", "0177.0.0.01", "127.0.0.1"),
    ("0x.0x.0x.0x", "0x.0x.0x.0x", "0.0.0.0"),
    ("0xFF.0Xab.0.0", "0xff.0xab.0.0", "255.171.0.0"),
    ("00.00.00.01", "00.00.00.01", "0.0.0.1"),
    ("0x1.0x1", "0x1.0x1", "1.0.0.1"),
    ("0", "0", "0.0.0.0"),
    ("4294967295", "4294967295", "255.255.255.255"),
    ("1.2.3.4.", "1.2.3.4", "1.2.3.4"),
    ("::1", "::1", "::1"),
    ("[::1]", "::1", "::1"),
    ("::FFFF:127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1"),
    ("Example.COM.", "example.com", None),
    ("1.2.3.example", "1.2.3.example", None),
    ("example.0xzz", "example.0xzz", None),
    ("0x1g", "0x1g", None),  # does not end in a number: a name
    ("under_score.example", "under_score.example", None),
]


@pytest.mark.parametrize("text, host, address", HOSTS, ids=[h[0] for h in HOSTS])
def test_hosts_parse_in_every_notation(text, host, address):
    parsed_host, parsed_address = parse_host(text)
    assert parsed_host == host
    assert (str(parsed_address) if parsed_address is not None else None) == address


CLASSES = [
    ("127.0.0.1", "loopback", None), ("127.255.255.254", "loopback", None), ("::1", "loopback", None),
    ("169.254.0.1", "link-local", None), ("fe80::1", "link-local", None), ("febf::1", "link-local", None),
    ("10.0.0.0", "private", None), ("10.255.255.255", "private", None), ("172.16.0.0", "private", None),
    ("172.31.255.255", "private", None), ("192.168.0.0", "private", None), ("192.168.255.255", "private", None),
    ("100.64.0.0", "shared", None), ("100.127.255.255", "shared", None),
    ("fc00::", "unique-local", None), ("fdff:ffff::1", "unique-local", None), ("fec0::1", "site-local", None),
    ("0.0.0.0", "unspecified", None), ("0.255.255.255", "unspecified", None), ("::", "unspecified", None),
    ("224.0.0.0", "multicast", None), ("239.255.255.255", "multicast", None), ("ff00::", "multicast", None),
    ("255.255.255.255", "broadcast", None), ("240.0.0.0", "reserved", None), ("255.255.255.254", "reserved", None),
    ("192.0.0.8", "reserved", None), ("192.0.2.1", "reserved", None), ("198.51.100.1", "reserved", None),
    ("203.0.113.1", "reserved", None), ("198.18.0.0", "reserved", None), ("198.19.255.255", "reserved", None),
    ("192.88.99.1", "reserved", None), ("2001:db8::", "reserved", None), ("100::", "reserved", None),
    ("64:ff9b:1::1", "private", None),
    ("::ffff:127.0.0.1", "loopback", "127.0.0.1"), ("::ffff:10.0.0.1", "private", "10.0.0.1"),
    ("::ffff:0:a00:1", "private", "10.0.0.1"), ("::a00:1", "private", "10.0.0.1"),
    ("::2", "unspecified", "0.0.0.2"),
    ("64:ff9b::a9fe:a9fe", "link-local", "169.254.169.254"), ("2002:a9fe:a9fe::", "link-local", "169.254.169.254"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", "10.0.0.1"),
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "private", "10.0.0.1"),  # a Teredo server that is not public
    # not in the table, but not global either: the standard library's registry decides
    ("2001:2::1", "reserved", None), ("2001:10::1", "reserved", None),
]


@pytest.mark.parametrize("text, name, embedded", CLASSES, ids=[c[0] for c in CLASSES])
def test_classes(text, name, embedded):
    verdict = classify(ipaddress.ip_address(text))
    assert verdict is not None
    assert verdict.address_class.name == name
    assert (str(verdict.embedded) if verdict.embedded is not None else None) == embedded


GLOBAL = ["1.0.0.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
          "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255",
          "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255", "2606:4700:4700::1111",
          "2a00:1450::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::", "::808:808",
          "2001:0:4136:e378:8000:63bf:f7f7:f7f7"]


@pytest.mark.parametrize("text", GLOBAL)
def test_public_addresses_have_no_verdict(text):
    assert classify(ipaddress.ip_address(text)) is None


def test_verdicts_describe_themselves():
    assert classify(ipaddress.ip_address("127.0.0.1")).describe() == "a loopback address"
    assert classify(ipaddress.ip_address("::ffff:127.0.0.1")).describe() == (
        "an IPv4-mapped form of 127.0.0.1 (a loopback address)")
    assert classify(ipaddress.ip_address("2002:a00:1::")).describe() == "a 6to4 form of 10.0.0.1 (a private address)"


def test_classes_opened_by_a_name_entry():
    opened = {c.name for c in (egress.PRIVATE, egress.SHARED, egress.UNIQUE_LOCAL, egress.SITE_LOCAL,
                               egress.RESERVED) if c.opened_by_name}
    closed = {c.name for c in (egress.LOOPBACK, egress.LINK_LOCAL, egress.UNSPECIFIED, egress.MULTICAST,
                               egress.BROADCAST) if not c.opened_by_name}
    assert opened == {"private", "shared", "unique-local", "site-local", "reserved"}
    assert closed == {"loopback", "link-local", "unspecified", "multicast", "broadcast"}


@pytest.mark.parametrize("entry", ["host:0", "[::1]:0"])
def test_a_bad_port_names_its_entry(entry):
    with pytest.raises(EgressConfigError) as bad:
        parse_rule(entry)
    assert str(bad.value) == f"SOPS_HTTP_ALLOWLIST entry {entry!r}: the port must be a number from 1 to 65535"
