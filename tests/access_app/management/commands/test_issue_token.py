"""issue_token: user, membership and ticket in one transaction; kinds, the access_token's app, expiry, roles."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError
from django.utils import timezone

from access_app.hashing import token_digest
from access_app.models import BusinessMember, UserTicket
from tests.support.commands import run, run_json

pytestmark = pytest.mark.django_db


def test_issue_token_creates_user_membership_and_token(client):
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    app_secret = run_json("create_app", "--app-code", "a")["app_secret"]
    data = run_json("issue_token", "--username", "alice", "--bk-biz-id", "5", "--role", "operator",
                    "--app-code", "a")
    assert data["kind"] == "access_token" and data["role"] == "operator" and data["app_code"] == "a"
    ticket = UserTicket.objects.get(digest=token_digest(data["access_token"]))
    assert ticket.app.app_code == "a"
    # access_token: 7 days by default
    assert abs(ticket.expires_at - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    assert BusinessMember.objects.get(user__username="alice", business__bk_biz_id=5).role == "operator"
    body = client.get("/apigw/get_template_list/5/", {"app_code": "a", "app_secret": app_secret,
                                                       "access_token": data["token"]}).json()
    assert body["result"] is True
    # Bound to app "a", the token alone stands for the app and the user.
    body = client.get("/apigw/get_template_list/5/", {"access_token": data["token"]}).json()
    assert body["result"] is True


def test_an_access_token_needs_an_existing_app_and_a_bk_token_takes_none():
    from django.contrib.auth import get_user_model

    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    run("create_app", "--app-code", "a")
    with pytest.raises(CommandError, match="an access_token is issued for an app: pass --app-code"):
        run("issue_token", "--username", "dan", "--bk-biz-id", "5", "--role", "viewer")
    with pytest.raises(CommandError, match=r"app\[nope\] does not exist"):
        run("issue_token", "--username", "dan", "--bk-biz-id", "5", "--role", "viewer", "--app-code", "nope")
    with pytest.raises(CommandError, match="a bk_token .* belongs to no app"):
        run("issue_token", "--username", "dan", "--bk-biz-id", "5", "--role", "viewer", "--app-code", "a",
            "--kind", "bk_token")
    # Each refusal left nothing behind: no user, no membership, no ticket.
    assert not get_user_model().objects.filter(username="dan").exists()
    assert not UserTicket.objects.exists()
    data = run_json("issue_token", "--username", "dan", "--bk-biz-id", "5", "--role", "viewer",
                    "--kind", "bk_token")
    assert data["app_code"] is None and UserTicket.objects.get(digest=token_digest(data["bk_token"])).app is None
    assert "app:     none" in run("issue_token", "--username", "dan", "--bk-biz-id", "5", "--role", "viewer",
                                  "--kind", "bk_token")


def test_issue_token_bk_token_has_no_expiry_and_role_changes():
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    run("issue_token", "--username", "bob", "--bk-biz-id", "5", "--role", "viewer", "--kind", "bk_token")
    data = run_json("issue_token", "--username", "bob", "--bk-biz-id", "5", "--role", "maintainer",
                    "--kind", "bk_token")
    assert UserTicket.objects.get(digest=token_digest(data["bk_token"])).expires_at is None
    assert BusinessMember.objects.get(user__username="bob").role == "maintainer"


def test_issue_token_expires_in():
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    data = run_json("issue_token", "--username", "c", "--bk-biz-id", "5", "--role", "viewer",
                    "--kind", "bk_token", "--expires-in", "60")
    ticket = UserTicket.objects.get(digest=token_digest(data["token"]))
    assert dt.timedelta(seconds=50) < ticket.expires_at - timezone.now() <= dt.timedelta(seconds=60)


def test_issue_token_unknown_business_leaves_nothing():
    from django.contrib.auth import get_user_model

    with pytest.raises(CommandError, match=r"business\[bk_biz_id=404\] does not exist"):
        run("issue_token", "--username", "ghost", "--bk-biz-id", "404", "--role", "viewer")
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_issue_token_rejects_unknown_role():
    with pytest.raises(CommandError):
        run("issue_token", "--username", "x", "--bk-biz-id", "1", "--role", "king")
