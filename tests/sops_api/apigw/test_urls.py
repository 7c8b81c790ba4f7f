"""Every /apigw/ endpoint answers hostile input with the envelope, never an internal error.

A property-based test (hypothesis): for each endpoint found in the URL conf (a new endpoint is
covered without editing this file), hostile values go into its path parameters, into every
parameter its view reads (found in the view's source) and into the body in every style the API
accepts: query string, JSON query string, JSON body with and without a content type, form body,
and raw bytes (invalid UTF-8, duplicate keys, arrays where objects are expected, truncated JSON).
The property: the HTTP status is 200 (405 for a method the endpoint does not take, 404 for a
path that no longer resolves), the body is the envelope, and a refusal never carries 3599999.

Bounded for CI: a fixed number of examples per endpoint (SOPS_FUZZ_EXAMPLES, default 80, about
2,000 requests in all) with a derandomized seed, so every run sends the same requests; a
per-example deadline. SOPS_FUZZ_RANDOM=1 with more examples is the longer hunt.
"""
from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sops_api.apigw.views import ApigwView

from ..demo import BIZ, CREDS, TEMPLATE, bootstrap

UNKNOWN_ERROR = 3599999
EXAMPLES = int(os.environ.get("SOPS_FUZZ_EXAMPLES", "80"))
# SOPS_FUZZ_RANDOM=1 draws new requests each run (a longer hunt); CI sends the same ones every time.
DERANDOMIZE = os.environ.get("SOPS_FUZZ_RANDOM", "") != "1"
ENVELOPE_KEYS = {"result", "data", "message", "code"}
JSON_QUERY_SAFE = '{}:,"[]'


# --- the endpoints, from the URL conf -------------------------------------------------------------

_PARAM_READS = (re.compile(r'(?:params|\bp)(?:\.get\(|\[)"(\w+)"'),
                re.compile(r'_param\((?:self\.params|params|p), "(\w+)"'))


def _read_param_names(view: type) -> set[str]:
    """The parameters a view reads, found in its source and in the module helpers it calls, so a
    new parameter is fuzzed without editing this test."""
    module = inspect.getmodule(view)
    own = "\n".join(inspect.getsource(cls) for cls in view.__mro__ if cls.__module__ == view.__module__)
    sources = [own]
    for name, func in inspect.getmembers(module, inspect.isfunction):
        if func.__module__ == module.__name__ and f"{name}(" in own:
            sources.append(inspect.getsource(func))
    text = "\n".join(sources)
    names = {name for pattern in _PARAM_READS for name in pattern.findall(text)}
    if "paging_params(" in text:
        names |= {"offset", "limit"}
    serializer = getattr(view, "input_serializer", None)
    if serializer is not None:  # a declared input: its fields are the parameters
        names |= set(serializer().fields)
    return names or {"name"}


def apigw_endpoints() -> list[tuple[str, type, tuple[str, ...]]]:
    """(route with <name> placeholders, view class, path parameter names) of every ApigwView."""
    found: list[tuple[str, type, tuple[str, ...]]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                view = getattr(p.callback, "view_class", None)
                if view is not None and issubclass(view, ApigwView):
                    route = "/" + prefix + str(p.pattern)
                    found.append((route, view, tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))))

    walk(get_resolver().url_patterns, "")
    return sorted(found, key=lambda item: item[0])


ENDPOINTS = apigw_endpoints()


def test_the_endpoints_are_found() -> None:
    routes = {route for route, _, _ in ENDPOINTS}
    assert len(routes) >= 20
    assert "/apigw/create_task/<str:template_id>/<str:bk_biz_id>/" in routes
    assert "/apigw/get_periodic_task_history/<str:task_id>/<str:bk_biz_id>/" in routes
    names = set().union(*(_read_param_names(view) for _, view, _ in ENDPOINTS))
    assert {"conditions", "offset", "cron", "constants", "task_id_list", "template_id"} <= names


# --- hostile values -------------------------------------------------------------------------------

def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**63, 2**63 - 1, -(2**63), 10**20, 10**300, 0, -1, 1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
DIGIT_TEXTS = st.sampled_from(["٣", "²", "３", "1٣", "߁", "𝟘", "99999999999999999999", "9" * 5000,
                               "-1", "1.5", "1e400", " 7 ", "0x10", "", "NaN", "Infinity"])
TEXTS = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=10),  # surrogates, NUL
    st.sampled_from(["x" * 10_000, "a\x00b", "\ud800", "${1+1}", "{", "[", "null", "true", '{"a": 1}',
                     "*/0", "1,,2", "mon-sun/2", "2018-01-01 00:00:00", "9999-12-31 23:59:59"]),
    DIGIT_TEXTS,
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXTS)
# Values that broke some endpoint once (the hardening issue's list): drawn often, by design.
KNOWN_BAD = st.sampled_from([
    10**20, -(10**20), 2**63, 2**64, 10**300, "99999999999999999999", "٣", "²", "３", "1٣", "9" * 5000,
    "x" * 10_000, "a\x00b", "\ud800", 1.5, -1, float("1e308"), [99999999999999999999], ["٣"],
    {"id__in": [99999999999999999999]}, {"create_time": 10**20}, {"finish_time": 10**20},
    {"start_time__gte": "9" * 30}, {"minute": "²"}, {"minute": "9" * 5000}, {"minute": "٣"},
    {"id__in": "1,2,٣"}, {"${x}": _nested(300)}, _nested(70), list(range(5000)), {"a": None}, [],
    "", None, True, "true", "null", "{", "[1, 2", "*/0", "1-", "mon-", "a" * 300,
])
VALUES = st.one_of(
    SCALARS,
    st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                 st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                 max_leaves=8),
    st.integers(min_value=30, max_value=400).map(_nested),
)
# Two thirds of the hostile values come from the catalogue, one third is generated.
HOSTILE = st.one_of(KNOWN_BAD, KNOWN_BAD, VALUES)
RAW_BODIES = st.sampled_from([
    b"\xff\xfe\x00garbage", b'{"name": "a", "name": "b"}', b"[1, 2, 3]", b'"just a string"', b"{",
    b'{"constants": [1, 2]}', b"null", b"1e999999", b"{" * 5000 + b"}" * 5000, b"[" * 500 + b"]" * 500,
    b"\x00" * 100, b'{"conditions": {"id__in": "1,2,\xd9\xa3"}}', b"{\"name\": \"\\ud800\"}",
    b'{"name": NaN}', b'{"constants": {"a": 1e999}}', b"\xef\xbb\xbf{}",
])
STYLES = ["query", "json-query", "json-body", "json-typed", "form"]

# Usable values of parameters, by name: with them a request gets past the other parameters to the
# one under attack. A parameter missing here is simply left out or attacked.
USABLE: dict[str, Any] = {
    "group_by": "status", "template_source": "business", "name": "fuzz", "cron": {"minute": "5"},
    "action": "pause", "enabled": True, "conditions": {"id__in": [1, 2]}, "constants": {},
    "exclude_task_nodes_id": [], "task_id_list": [1, 2], "offset": 0, "limit": 10, "flow_type": "common",
    "node_id": "node1", "state": "FINISHED", "keyword": "a", "overlap_policy": "allow",
}
HOSTILE_SEGMENTS = st.one_of(DIGIT_TEXTS, st.text(max_size=20), KNOWN_BAD.map(lambda v: _stringify(v)[:200]),
                             st.sampled_from(["%00", "..", "-0", "+1", "00000000000000000000001"]))


def _stringify(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _form(fields: dict[str, Any]) -> str:
    """URL-encoded fields; a lone surrogate goes out as the invalid UTF-8 bytes a client could send."""
    return urlencode({k.encode("utf-8", "surrogatepass"): _stringify(v).encode("utf-8", "surrogatepass")
                      for k, v in fields.items()})


@st.composite
def hostile_requests(draw: st.DrawFn, view: type, route: str, path_names: tuple[str, ...],
                     valid: dict[str, str]) -> dict[str, Any]:
    """One request with one slot under attack (a path parameter, a parameter, a credential or the
    whole body); every other parameter is left out or usable, so the attack reaches its code."""
    names = sorted(_read_param_names(view))
    slots = [("path", n) for n in path_names] + [("param", n) for n in names] + \
        [("creds", n) for n in sorted(CREDS)] + [("body", "")]
    kind, target = draw(st.sampled_from(slots))
    params = {name: USABLE[name] for name in names if name in USABLE and draw(st.booleans())}
    creds = dict(CREDS)
    path = route
    for name in path_names:
        segment = draw(HOSTILE_SEGMENTS) if (kind, target) == ("path", name) else valid.get(name, "1")
        path = re.sub(rf"<(?:\w+:)?{name}>", quote(segment.encode("utf-8", "surrogatepass"), safe=""), path)
    if kind == "param":
        params[target] = draw(HOSTILE)
    elif kind == "creds":
        creds[target] = draw(HOSTILE)
    allowed = [m.upper() for m in view.http_method_names if m not in ("options", "head")]
    method = draw(st.sampled_from(allowed))
    if draw(st.integers(0, 11)) == 11:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    style = "raw" if kind == "body" else draw(st.sampled_from(STYLES))
    return {"method": method, "path": path, "params": params, "creds": creds, "style": style,
            "raw": draw(RAW_BODIES) if kind == "body" else b"", "wrong_method": method not in allowed}


def send(client: Client, request: dict[str, Any]) -> Any:
    method, path, style = request["method"], request["path"], request["style"]
    params, creds = request["params"], request["creds"]
    if style == "query":
        return client.generic(method, f"{path}?{_form({**creds, **params})}")
    if style == "json-query":
        # as `requests.get(url, json.dumps(kwargs))` sends it: only some characters escaped
        doc = quote(json.dumps({**creds, **params}).encode("utf-8", "surrogatepass"), safe=JSON_QUERY_SAFE)
        return client.generic(method, f"{path}?{doc}")
    query = _form(creds)
    if style == "form":
        body = _form(params)
        return client.generic(method, f"{path}?{query}", body, content_type="application/x-www-form-urlencoded")
    if style == "raw":
        return client.generic(method, f"{path}?{query}", request["raw"], content_type="text/plain")
    body = json.dumps(params)  # NaN and Infinity are written as such: refused by the server
    content_type = "application/json" if style == "json-typed" else "text/plain"
    return client.generic(method, f"{path}?{query}", body, content_type=content_type)


# --- the property ---------------------------------------------------------------------------------

@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Any) -> dict[str, str]:
    """The demo plus one task and one periodic task, so valid ids reach the deeper code paths."""
    bootstrap(settings, tmp_path)
    client = Client()
    query = urlencode(CREDS)
    task = client.post(f"/apigw/create_task/{TEMPLATE}/{BIZ}/?{query}", {"name": "fuzz"},
                       content_type="application/json").json()
    assert task["result"] is True, task
    periodic = client.post(f"/apigw/create_periodic_task/{TEMPLATE}/{BIZ}/?{query}",
                           {"name": "fuzz", "cron": {"minute": "5"}}, content_type="application/json").json()
    assert periodic["result"] is True, periodic
    # task_id means a task on most routes and a periodic task on the periodic ones
    return {"bk_biz_id": str(BIZ), "template_id": str(TEMPLATE), "task_id": str(task["data"]["task_id"]),
            "periodic_task_id": str(periodic["data"]["id"])}


def test_hostile_input_gets_the_envelope(world: dict[str, str]) -> None:
    """All endpoints in one test (they share the fixture's database); every failing endpoint is
    reported, each with the smallest request hypothesis found."""
    client = Client()
    failures: list[str] = []
    for route, view, path_names in ENDPOINTS:
        valid = dict(world)
        if "periodic" in route:
            valid["task_id"] = world["periodic_task_id"]

        @settings(max_examples=EXAMPLES, deadline=dt.timedelta(seconds=10), derandomize=DERANDOMIZE, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                         HealthCheck.data_too_large], report_multiple_bugs=False)
        @given(request=hostile_requests(view, route, path_names, valid))
        def check(request: dict[str, Any]) -> None:
            response = send(client, request)
            expected = {404, 405} if request["wrong_method"] else {200, 404}
            assert response.status_code in expected, (response.status_code, response.content[:300])
            if response.status_code == 404:
                return  # a path segment that decoded to "/" (or to nothing) names no route
            body = response.json()
            assert set(body) >= ENVELOPE_KEYS, body
            assert isinstance(body["result"], bool) and isinstance(body["message"], str)
            if body["result"] is False:
                assert body["code"] != UNKNOWN_ERROR, body

        try:
            check()
        except AssertionError as exc:
            failures.append(f"{route}: {exc}\n    {getattr(exc, '__notes__', '')}")
    assert not failures, "\n".join(failures)
