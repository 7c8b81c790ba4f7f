"""The browser's middleware (sessions, authentication, messages, framing) runs for pages and not
for the gateway's JSON calls (sops_api/browser_middleware.py)."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from sops_api.browser_middleware import is_gateway_call

pytestmark = pytest.mark.django_db
CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}


@pytest.mark.parametrize(("path", "expected"), [
    ("/apigw/get_task_status/1/2/", True),
    ("/apigw/create_task/1/2/", True),
    ("/apigw/no_such_endpoint/", True),
    ("/apigw/docs/", False),
    ("/apigw/schema/", False),
    ("/apigw", False),
    ("/admin/", False),
    ("/", False),
    ("/tasks/apigw/", False),
])
def test_which_paths_are_gateway_calls(path, expected):
    assert is_gateway_call(path) is expected


def test_a_gateway_call_gets_its_envelope_without_the_browsers_headers_or_cookies(client, world):
    answer = client.get("/apigw/get_template_list/2/", CREDS)
    assert answer.status_code == 200 and answer.json()["result"] is True
    assert "X-Frame-Options" not in answer.headers and not answer.cookies
    assert not hasattr(answer.wsgi_request, "session") and not hasattr(answer.wsgi_request, "_messages")
    # refused and unknown calls answer as before (no hook of a skipped middleware is missed)
    refused = client.post("/apigw/create_task/10/2/", json.dumps({"app_code": "app_code", "app_secret": "nope"}),
                          content_type="application/json")
    assert refused.status_code == 200 and refused.json()["code"] == 3540100 and not refused.cookies
    assert client.get("/apigw/no_such_endpoint/", CREDS).status_code == 404


@pytest.mark.parametrize("path", ["/admin/login/", "/apigw/docs/", "/"])
def test_pages_keep_the_browsers_middleware(client, path):
    answer = client.get(path)
    assert answer.status_code in (200, 302), (path, answer.status_code)
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert hasattr(answer.wsgi_request, "session") and hasattr(answer.wsgi_request, "user")


def test_an_operator_signs_in_to_the_admin_with_a_session(client):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-the-test")
    page = client.get("/admin/login/")
    token = page.cookies["csrftoken"].value
    signed_in = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "pw-for-the-test",
                                                          "csrfmiddlewaretoken": token, "next": "/admin/"})
    assert signed_in.status_code == 302 and "sessionid" in signed_in.cookies
    assert client.get("/admin/").status_code == 200
