"""The base view: wrong methods answer 405, unexpected errors 3599999 without details, logs name the caller,
the input serializer validates before the handler (or after its lookup)."""
from __future__ import annotations

import json
import logging

import pytest

from sops_api.apigw.errors import REQUEST_PARAM_INVALID, UNKNOWN_ERROR

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sops_api.apigw.urls")]

URL = "/apigw/test_operator_only/2/"


@pytest.mark.parametrize(("method", "url"), [
    ("post", "/apigw/get_template_list/2/"),
    ("put", "/apigw/get_template_info/1/2/"),
    ("delete", "/apigw/get_template_list/2/"),
    ("get", "/apigw/test_post_only/2/"),
])
def test_wrong_method_is_405_envelope(client, gate, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 405
    body = response.json()
    assert body["result"] is False and body["data"] is None
    assert body["code"] == REQUEST_PARAM_INVALID
    assert f"method {method.upper()} is not allowed" in body["message"]


def test_unexpected_error_is_3599999_without_details(client, gate, caplog):
    with caplog.at_level(logging.ERROR, logger="sops.apigw"):
        response = client.get("/apigw/test_explode/2/", gate.creds())
    assert response.status_code == 200
    body = response.json()
    assert body == {"result": False, "data": None, "code": UNKNOWN_ERROR,
                    "message": "unexpected error, the incident has been logged"}
    text = response.content.decode()
    assert "Traceback" not in text and "passwd" not in text and "RuntimeError" not in text
    # ...but the operator's log has it all.
    assert any("secret internal detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_log_lines_carry_the_caller(client, gate, caplog):
    with caplog.at_level(logging.ERROR, logger="sops.apigw"):
        client.get("/apigw/test_explode/2/", gate.creds())
    record = next(r for r in caplog.records if r.name == "sops.apigw")
    from sops_api.logs import ContextFilter, JsonFormatter

    ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    # The configured console handler's ContextFilter annotated the record
    # while the request was live (the context is gone by now).
    assert line["level"] == "ERROR" and line["logger"] == "sops.apigw"
    assert record.app_code == "test-app" and record.user == "olivia"
    assert record.path == "/apigw/test_explode/2/"


def test_the_input_is_validated_before_the_handler_runs(client, gate):
    body = client.get("/apigw/test_input_first/2/", gate.creds(count="9")).json()
    assert body == {"result": False, "data": None, "code": REQUEST_PARAM_INVALID, "message": "count[9] must be at most 3"}
    body = client.get("/apigw/test_input_first/2/", gate.creds()).json()
    assert body["code"] == REQUEST_PARAM_INVALID and body["message"] == "count is required"
    assert client.get("/apigw/test_input_first/2/", gate.creds(count="2")).json()["message"] == "the handler ran"


def test_a_view_may_look_its_object_up_before_validating(client, gate):
    body = client.get("/apigw/test_lookup_first/2/", gate.creds(count="9")).json()
    assert body["result"] is False and body["message"] == "no such object"
    body = client.get("/apigw/test_lookup_first/2/", gate.creds(count="9", exists="yes")).json()
    assert body["code"] == REQUEST_PARAM_INVALID and body["message"] == "count[9] must be at most 3"
    assert client.get("/apigw/test_lookup_first/2/", gate.creds(count="2", exists="yes")).json()["data"] == {"count": 2}


def test_credentials_are_checked_before_the_input(client, gate):
    body = client.get("/apigw/test_input_first/2/", {"count": "9"}).json()
    assert body["result"] is False and body["code"] == 3540100


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "text/plain; q=1, */*; q=0", "*/*", ""])
def test_the_answer_is_the_json_envelope_whatever_the_accept_header(client, gate, accept):
    response = client.get("/apigw/get_template_list/2/", gate.creds(), HTTP_ACCEPT=accept)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response.json()["result"] is True


def test_an_error_is_the_json_envelope_whatever_the_accept_header(client, gate):
    response = client.post("/apigw/get_template_list/2/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 405 and response.json()["code"] == REQUEST_PARAM_INVALID
