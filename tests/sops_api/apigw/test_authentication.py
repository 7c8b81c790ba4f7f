"""Authentication through HTTP: an access_token alone or with its app, a bk_token with any app, from the
query, the JSON body or the X-Bkapi-Authorization header (the rules: access_app/authentication.py)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from access_app.hashing import token_digest
from access_app.models import App, UserTicket
from tests.support.gate import SECRET, assert_forbidden, call

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sops_api.apigw.urls")]

OPERATOR_URL = "/apigw/test_operator_only/2/"
LIST_URL = "/apigw/get_template_list/2/"






def test_good_credentials_pass(client, gate):
    body = call(client, gate.creds())
    assert body == {"result": True, "data": [], "message": "success", "code": 0}


@pytest.mark.parametrize(("change", "fragment"), [
    ({"app_code": None}, "app_code is missing"),
    ({"app_code": "nobody"}, "app_code or app_secret is wrong"),
    ({"app_secret": "wrong"}, "app_code or app_secret is wrong"),
    ({"app_secret": None}, "app_code or app_secret is wrong"),
    ({"access_token": None}, "bk_token or access_token is required"),
    ({"access_token": "no-such-token"}, "the access_token is unknown or revoked"),
    ({"access_token": None, "bk_token": "no-such-token"}, "the bk_token is unknown or revoked"),
])
def test_bad_credentials_are_refused(client, gate, change, fragment):
    params = gate.creds()
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    assert_forbidden(call(client, params), fragment)


def test_unknown_app_and_wrong_secret_read_the_same(client, gate):
    unknown = call(client, {**gate.creds(), "app_code": "nobody"})
    wrong = call(client, {**gate.creds(), "app_secret": "nope"})
    assert unknown["message"] == wrong["message"]


def test_disabled_app(client, gate):
    App.objects.filter(app_code="test-app").update(enabled=False)
    assert_forbidden(call(client, gate.creds()), "is disabled")


def test_expired_access_token(client, gate):
    UserTicket.objects.filter(digest=token_digest(gate.tokens["olivia"])).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_forbidden(call(client, gate.creds()), "has expired")


def test_revoked_ticket(client, gate):
    UserTicket.objects.filter(digest=token_digest(gate.tokens["olivia"])).update(revoked=True)
    assert_forbidden(call(client, gate.creds()), "unknown or revoked")


def test_inactive_user(client, gate):
    get_user_model().objects.filter(username="olivia").update(is_active=False)
    assert_forbidden(call(client, gate.creds()), "user[username=olivia] is inactive")













def test_credentials_in_query(client, gate):
    assert call(client, gate.creds(), url=OPERATOR_URL)["result"] is True


def test_credentials_in_json_body(client, gate):
    response = client.post(OPERATOR_URL, json.dumps({**gate.creds(), "x": 1}), content_type="application/json")
    body = response.json()
    assert body["result"] is True and body["data"]["params"]["x"] == 1


def test_credentials_in_header(client, gate):
    header = json.dumps({"bk_app_code": "test-app", "bk_app_secret": SECRET,
                         "access_token": gate.tokens["olivia"]})
    body = client.get(OPERATOR_URL, HTTP_X_BKAPI_AUTHORIZATION=header).json()
    assert body["result"] is True and body["data"]["user"] == "olivia"


def test_header_that_is_not_json(client, gate):
    body = client.get(OPERATOR_URL, HTTP_X_BKAPI_AUTHORIZATION="app_code=x").json()
    assert_forbidden(body, "X-Bkapi-Authorization header is not a JSON object")


def test_header_app_with_query_user(client, gate):
    header = json.dumps({"bk_app_code": "test-app", "bk_app_secret": SECRET})
    body = client.get(OPERATOR_URL, {"access_token": gate.tokens["olivia"]},
                      HTTP_X_BKAPI_AUTHORIZATION=header).json()
    assert body["result"] is True


def test_esb_aliases(client, gate):
    params = {"bk_app_code": "test-app", "bk_app_secret": SECRET, "access_token": gate.tokens["olivia"]}
    assert call(client, params, url=OPERATOR_URL)["result"] is True


def test_bk_token(client, gate):
    from django.contrib.auth import get_user_model

    from access_app.services import issue_ticket

    ticket, raw = issue_ticket(user=get_user_model().objects.get(username="olivia"), kind="bk_token")
    assert ticket.expires_at is None  # a login ticket lives until revoked
    params = {"app_code": "test-app", "app_secret": SECRET, "bk_token": raw}
    assert call(client, params, url=OPERATOR_URL)["data"]["user"] == "olivia"


# --- an access_token alone, where bkapi-client-core and the spec's callers put it --------------------

def test_access_token_alone_in_the_header_as_bkapi_client_core_sends_it(client, gate):
    header = json.dumps({"access_token": gate.tokens["olivia"]})
    body = client.get(OPERATOR_URL, HTTP_X_BKAPI_AUTHORIZATION=header).json()
    assert body["result"] is True and body["data"]["user"] == "olivia"


def test_access_token_alone_in_the_query(client, gate):
    assert call(client, {"access_token": gate.tokens["olivia"]}, url=OPERATOR_URL)["data"]["user"] == "olivia"


def test_access_token_alone_in_the_body(client, gate):
    response = client.post(OPERATOR_URL, json.dumps({"access_token": gate.tokens["max"], "x": 1}),
                           content_type="application/json")
    body = response.json()
    assert body["result"] is True and body["data"] == {"user": "max", "role": "maintainer", "params": {"x": 1}}


def test_access_token_alone_is_still_authorised_by_role(client, gate):
    assert_forbidden(call(client, {"access_token": gate.tokens["vera"]}, url=OPERATOR_URL),
                     "this operation needs the operator role")
    assert_forbidden(call(client, {"access_token": gate.tokens["otto"]}), "does not have perm of business")


def test_access_token_with_another_apps_credentials_is_refused(client, gate):
    from access_app.services import create_app

    create_app(app_code="other-app", secret="other-secret")
    header = json.dumps({"bk_app_code": "other-app", "bk_app_secret": "other-secret",
                         "access_token": gate.tokens["olivia"]})
    assert_forbidden(client.get(LIST_URL, HTTP_X_BKAPI_AUTHORIZATION=header).json(),
                     "the access_token was issued for another app, not app[other-app]")
    assert_forbidden(call(client, {**gate.creds(), "app_code": "other-app", "app_secret": "other-secret"}),
                     "issued for another app")


def test_bk_token_and_access_token_each_only_under_their_own_name(client, gate):
    from access_app.services import issue_ticket

    _ticket, bk_token = issue_ticket(user=get_user_model().objects.get(username="olivia"), kind="bk_token")
    header = json.dumps({"access_token": bk_token})
    assert_forbidden(client.get(LIST_URL, HTTP_X_BKAPI_AUTHORIZATION=header).json(),
                     "a bk_token was sent as access_token")
    assert_forbidden(call(client, {"app_code": "test-app", "app_secret": SECRET, "bk_token": gate.tokens["olivia"]}),
                     "an access_token was sent as bk_token")
    assert_forbidden(call(client, {"bk_token": bk_token}), "app_code is missing")
    assert_forbidden(call(client, {**gate.creds(), "bk_token": bk_token}), "not both")


def test_a_revoked_or_expired_token_or_a_disabled_app_stops_the_token_alone(client, gate):
    from access_app.services import revoke_tickets, set_apps_enabled

    alone = {"access_token": gate.tokens["olivia"]}
    revoke_tickets(tickets=UserTicket.objects.filter(digest=token_digest(gate.tokens["olivia"])))
    assert_forbidden(call(client, alone), "the access_token is unknown or revoked")
    UserTicket.objects.filter(digest=token_digest(gate.tokens["max"])).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_forbidden(call(client, {"access_token": gate.tokens["max"]}), "the access_token has expired")
    assert call(client, {"access_token": gate.tokens["vera"]})["result"] is True
    set_apps_enabled(apps=App.objects.filter(app_code="test-app"), enabled=False)
    assert_forbidden(call(client, {"access_token": gate.tokens["vera"]}), "app[test-app] is disabled")
