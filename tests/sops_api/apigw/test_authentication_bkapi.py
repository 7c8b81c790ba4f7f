"""BlueKing's gateway client runtime (bkapi-client-core, as generated SDKs use it) against a live server.

The runtime has two credential modes and sends each in the X-Bkapi-Authorization header:
`{"bk_app_code", "bk_app_secret", "bk_token"}`, or, when it holds an access_token, `{"access_token"}`
and nothing else. Both must work, and what must be refused is refused with 3540100.
"""
from __future__ import annotations

import json

import pytest
from bkapi_client_core.apigateway import APIGatewayClient, Operation, OperationGroup, bind_property
from django.contrib.auth import get_user_model
from django.utils import timezone

from access_app import services
from access_app.hashing import token_digest
from access_app.models import App, UserTicket
from tests.support.gate import SECRET, assert_forbidden


class Api(OperationGroup):
    get_template_list = bind_property(Operation, name="get_template_list", method="GET",
                                      path="/get_template_list/{bk_biz_id}/")
    create_task = bind_property(Operation, name="create_task", method="POST",
                                path="/create_task/{template_id}/{bk_biz_id}/")


class SopsClient(APIGatewayClient):
    """A client the way BlueKing's SDK generator declares one; sops serves the gateway's stage at /apigw/."""

    _api_name = "bk-sops"
    api = bind_property(Api, name="api")


def client(live_server, **credentials: str) -> SopsClient:
    sops = SopsClient(endpoint=live_server.url, stage="apigw")
    sops.update_bkapi_authorization(**credentials)
    return sops


@pytest.fixture
def bk_token(gate) -> str:
    return services.issue_ticket(user=get_user_model().objects.get(username="olivia"), kind="bk_token")[1]


def template_ids(answer: dict) -> set[int]:
    assert answer["result"] is True, answer
    return {item["id"] for item in answer["data"]}


def test_the_runtime_sends_an_access_token_alone(live_server, gate):
    request = client(live_server, bk_app_code="test-app", bk_app_secret=SECRET,
                     access_token=gate.tokens["olivia"]).api.get_template_list.request({}, {"bk_biz_id": 2})
    assert json.loads(request.request.headers["X-Bkapi-Authorization"]) == {"access_token": gate.tokens["olivia"]}


def test_access_token_mode(live_server, gate, templates):
    sops = client(live_server, access_token=gate.tokens["olivia"])
    assert template_ids(sops.api.get_template_list({}, {"bk_biz_id": 2})) == {
        templates["first"].pk, templates["second"].pk}
    created = sops.api.create_task({"name": "through bkapi-client-core"},
                                   {"template_id": templates["first"].pk, "bk_biz_id": 2})
    assert created["result"] is True, created
    from tasks_app.models import TaskInstance

    task = TaskInstance.objects.get(pk=created["data"]["task_id"])
    assert (task.creator, task.create_info) == ("olivia", "test-app")  # the token stood for app and user


def test_app_credentials_with_bk_token_mode(live_server, gate, templates, bk_token):
    sops = client(live_server, bk_app_code="test-app", bk_app_secret=SECRET, bk_token=bk_token)
    assert template_ids(sops.api.get_template_list({}, {"bk_biz_id": 2})) == {
        templates["first"].pk, templates["second"].pk}
    other, other_secret = services.create_app(app_code="other-app")
    sops = client(live_server, bk_app_code="other-app", bk_app_secret=other_secret, bk_token=bk_token)
    assert template_ids(sops.api.get_template_list({}, {"bk_biz_id": 2}))  # any enabled app


def refused(sops: SopsClient, fragment: str) -> None:
    assert_forbidden(sops.api.get_template_list({}, {"bk_biz_id": 2}), fragment)


def test_the_token_of_app_a_with_the_credentials_of_app_b(live_server, gate):
    _other, other_secret = services.create_app(app_code="other-app")
    # The runtime would drop the app credentials beside an access_token; the header is written by hand.
    sops = client(live_server)
    sops.update_headers({"X-Bkapi-Authorization": json.dumps(
        {"bk_app_code": "other-app", "bk_app_secret": other_secret, "access_token": gate.tokens["olivia"]})})
    sops.session.auth = None
    refused(sops, "the access_token was issued for another app, not app[other-app]")


def test_a_bk_token_sent_as_access_token(live_server, gate, bk_token):
    refused(client(live_server, access_token=bk_token), "a bk_token was sent as access_token")


def test_an_access_token_sent_as_bk_token(live_server, gate):
    refused(client(live_server, bk_app_code="test-app", bk_app_secret=SECRET, bk_token=gate.tokens["olivia"]),
            "an access_token was sent as bk_token")


def test_a_revoked_or_expired_token_alone(live_server, gate):
    services.revoke_tickets(tickets=UserTicket.objects.filter(digest=token_digest(gate.tokens["olivia"])))
    refused(client(live_server, access_token=gate.tokens["olivia"]), "the access_token is unknown or revoked")
    UserTicket.objects.filter(digest=token_digest(gate.tokens["max"])).update(expires_at=timezone.now())
    refused(client(live_server, access_token=gate.tokens["max"]), "the access_token has expired")


def test_the_token_of_a_disabled_app_alone(live_server, gate):
    sops = client(live_server, access_token=gate.tokens["vera"])
    assert sops.api.get_template_list({}, {"bk_biz_id": 2})["result"] is True
    services.set_apps_enabled(apps=App.objects.filter(app_code="test-app"), enabled=False)
    refused(sops, "app[test-app] is disabled")


def test_a_bk_token_alone(live_server, gate, bk_token):
    refused(client(live_server, bk_token=bk_token), "app_code is missing")
