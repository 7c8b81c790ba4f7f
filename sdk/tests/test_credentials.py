"""Both of bkapi-client-core's credential modes: app credentials + bk_token, and access_token alone.

The runtime sends credentials in the X-Bkapi-Authorization header, a JSON object; what it sends in
each mode is checked on a local server, what sops answers on the live one.
"""
from __future__ import annotations

import json

import pytest

from sops_sdk import Client, PermissionDeniedError


def sent_authorization(local_server, **credentials) -> dict:
    Client(local_server.url, **credentials).api.get_template_list({}, {"bk_biz_id": 2})
    (request,) = local_server.seen
    return json.loads(request.headers["X-Bkapi-Authorization"])


def test_app_credentials_and_bk_token_travel_together(local_server):
    assert sent_authorization(local_server, bk_app_code="app", bk_app_secret="secret", bk_token="ticket") == {
        "bk_app_code": "app", "bk_app_secret": "secret", "bk_token": "ticket"}


def test_an_access_token_travels_alone(local_server):
    # The runtime drops the app credentials when there is an access token: it stands for app and user.
    assert sent_authorization(local_server, bk_app_code="app", bk_app_secret="secret",
                              access_token="token") == {"access_token": "token"}


def test_credentials_never_go_into_the_query_or_the_body(local_server):
    client = Client(local_server.url, bk_app_code="app", bk_app_secret="secret", bk_token="ticket")
    client.api.create_task({"name": "n"}, {"template_id": 1, "bk_biz_id": 2})
    client.api.get_task_status({}, {"task_id": 1, "bk_biz_id": 2})
    post, get = local_server.seen
    assert json.loads(post.body) == {"name": "n"} and "?" not in get.path


def test_app_credentials_with_bk_token_work(client):
    templates = client.templates.list(bk_biz_id=2)
    assert {t.id for t in templates} >= {1, 10}


@pytest.mark.parametrize("change", [
    {"bk_app_secret": "not the secret"},
    {"bk_token": "not a ticket"},
    {"bk_app_code": "no-such-app"},
])
def test_wrong_credentials_are_refused(live, change):
    with pytest.raises(PermissionDeniedError) as refused:
        live.client(**change).templates.list(bk_biz_id=2)
    assert refused.value.code == 3540100 and "authentication failed" in refused.value.message


def test_an_access_token_sent_as_bk_token_is_refused(live):
    with pytest.raises(PermissionDeniedError) as refused:
        live.client(bk_token=live.access_token).templates.list(bk_biz_id=2)
    assert refused.value.code == 3540100 and "an access_token was sent as bk_token" in refused.value.message


def test_a_bk_token_sent_as_access_token_is_refused(live):
    with pytest.raises(PermissionDeniedError) as refused:
        Client(live.endpoint, access_token=live.bk_token).templates.list(bk_biz_id=2)
    assert refused.value.code == 3540100 and "a bk_token was sent as access_token" in refused.value.message


def test_no_credentials_are_refused(live):
    result = Client(live.endpoint).api.get_template_list({}, {"bk_biz_id": "2"})
    assert result["result"] is False and result["code"] == 3540100


def test_access_token_alone_works(token_client):
    # The demo's access_token is bound to the demo app: it stands for the app and the user.
    assert {t.id for t in token_client.templates.list(bk_biz_id=2)} >= {1, 10}
    created = token_client.tasks.create(template_id=4, bk_biz_id=2, name="access token alone",
                                        constants={"${name}": "token"})
    token_client.tasks.start(task_id=created.task_id, bk_biz_id=2)
    assert token_client.wait_for_task(created.task_id, 2, timeout=30).state == "FINISHED"
    assert token_client.tasks.detail(task_id=created.task_id, bk_biz_id=2).output("${greeting}") == "hello token"
