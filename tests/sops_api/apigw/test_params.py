"""The parameter styles the spec's examples use: query strings, JSON query strings, bodies with or without a JSON content type, forms."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from sops_api.apigw.errors import REQUEST_PARAM_INVALID

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sops_api.apigw.urls")]

URL = "/apigw/test_operator_only/2/"


def test_get_with_query_string(client, gate):
    body = client.get(URL, {**gate.creds(), "flag": "1"}).json()
    assert body["result"] is True and "flag" in body["data"]["params"]


def test_get_whose_query_string_is_json(client, gate):
    # requests.get(url, json.dumps(kwargs)) sends the JSON document as the raw query string.
    raw = json.dumps({**gate.creds(), "constants": {"${a}": 1}})
    body = client.get(f"{URL}?{raw}").json()
    assert body["result"] is True and "constants" in body["data"]["params"]


def test_get_whose_query_string_is_percent_encoded_json(client, gate):
    raw = quote(json.dumps({**gate.creds(), "name": "a b&c"}))
    body = client.get(f"{URL}?{raw}").json()
    assert body["result"] is True and "name" in body["data"]["params"]


def test_post_json_without_content_type(client, gate):
    # requests.post(url, json.dumps(kwargs)) sends no JSON content type.
    payload = json.dumps({**gate.creds(), "name": "tasktest", "constants": {"${x}": "1"}})
    body = client.generic("POST", URL, payload.encode(), content_type="").json()
    assert body["result"] is True
    assert body["data"]["params"]["constants"] == {"${x}": "1"}


def test_post_json_with_form_content_type(client, gate):
    payload = json.dumps({**gate.creds(), "name": "x"})
    body = client.generic("POST", URL, payload.encode(), content_type="application/x-www-form-urlencoded").json()
    assert body["result"] is True and body["data"]["params"]["name"] == "x"


def test_post_json_with_content_type(client, gate):
    body = client.post(URL, {**gate.creds(), "name": "x"}, content_type="application/json").json()
    assert body["result"] is True and body["data"]["params"]["name"] == "x"


def test_post_form(client, gate):
    body = client.post(URL, {**gate.creds(), "name": "x"}).json()
    assert body["result"] is True and body["data"]["params"]["name"] == "x"


def test_body_wins_over_query(client, gate):
    payload = json.dumps({**gate.creds(), "name": "from-body"})
    body = client.generic("POST", f"{URL}?name=from-query", payload.encode(), content_type="").json()
    assert body["data"]["params"]["name"] == "from-body"


def test_post_body_that_is_not_json(client, gate):
    response = client.generic("POST", f"{URL}?app_code=test-app", b"{not json", content_type="application/json")
    body = response.json()
    assert response.status_code == 200
    assert body["result"] is False and body["code"] == REQUEST_PARAM_INVALID
    assert "invalid json format" in body["message"]


def test_post_body_that_is_a_list(client, gate):
    body = client.generic("POST", URL, b"[1, 2]", content_type="application/json").json()
    assert body["result"] is False and body["message"] == "request body must be a JSON object"
