"""The role check: membership of the business in the path, the role ladder, superusers."""
from __future__ import annotations

import pytest

from sops_api.apigw.errors import CONTENT_NOT_EXIST
from tests.support.gate import assert_forbidden, call

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sops_api.apigw.urls")]

OPERATOR_URL = "/apigw/test_operator_only/2/"
LIST_URL = "/apigw/get_template_list/2/"


def test_user_outside_the_business(client, gate):
    body = call(client, gate.creds("otto"))
    assert_forbidden(body, "user[username=otto] does not have perm of business:[bk_biz_id=2]")


def test_unknown_business(client, gate):
    body = call(client, gate.creds(), url="/apigw/get_template_list/999/")
    assert body["result"] is False and body["code"] == CONTENT_NOT_EXIST
    assert body["message"] == "business[bk_biz_id=999] does not exist"


def test_non_numeric_business(client, gate):
    body = call(client, gate.creds(), url="/apigw/get_template_list/abc/")
    assert body["result"] is False and "must be an integer" in body["message"]


@pytest.mark.parametrize(("username", "allowed"), [
    ("vera", False), ("olivia", True), ("max", True), ("root", True), ("otto", False),
])
def test_role_ladder(client, gate, username, allowed):
    body = call(client, gate.creds(username), url=OPERATOR_URL)
    assert body["result"] is allowed, body
    if allowed:
        assert body["data"]["user"] == username
    elif username == "vera":
        assert_forbidden(body, "is viewer of business[bk_biz_id=2]; this operation needs the operator role")


def test_superuser_counts_as_maintainer(client, gate):
    body = call(client, gate.creds("root"), url=OPERATOR_URL)
    assert body["data"]["role"] == "maintainer"
