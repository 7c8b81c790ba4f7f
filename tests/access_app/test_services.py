"""Writes on apps, tickets, users, businesses and roles."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from access_app import services
from access_app.hashing import token_digest
from access_app.models import App, BusinessMember, Role, UserTicket
from sops_common.errors import Forbidden, InvalidInput
from tests.support.gate import SECRET

pytestmark = pytest.mark.django_db


def test_secrets_and_tokens_are_not_stored_in_clear(gate):
    app = App.objects.get(app_code="test-app")
    assert SECRET not in app.secret_hash and app.check_secret(SECRET)
    assert not UserTicket.objects.filter(digest=gate.tokens["olivia"]).exists()


def test_create_app_refuses_bad_codes_and_duplicates(gate):
    with pytest.raises(InvalidInput, match="without spaces"):
        services.create_app(app_code="has space")
    with pytest.raises(InvalidInput, match=r"app\[test-app\] already exists"):
        services.create_app(app_code="test-app")


def test_tickets_expire_by_kind_unless_told(gate):
    user = services.ensure_user(username="tess")
    app = App.objects.get(app_code="test-app")
    access, _ = services.issue_ticket(user=user, app=app)
    assert access.expires_at - timezone.now() > dt.timedelta(days=6, hours=23)
    login, _ = services.issue_ticket(user=user, kind=UserTicket.BK_TOKEN)
    assert login.expires_at is None
    with pytest.raises(InvalidInput, match="positive number of seconds"):
        services.issue_ticket(user=user, app=app, expires_in=0)
    with pytest.raises(InvalidInput, match="already issued"):
        services.issue_ticket(user=user, app=app, raw=gate.tokens["olivia"])


def test_an_access_token_is_issued_for_an_app_and_a_bk_token_for_none(gate):
    user = services.ensure_user(username="tess")
    app = App.objects.get(app_code="test-app")
    access, _ = services.issue_ticket(user=user, app=app)
    assert access.app == app
    with pytest.raises(InvalidInput, match="an access_token is issued for an app"):
        services.issue_ticket(user=user)
    with pytest.raises(InvalidInput, match="a bk_token .* belongs to no app"):
        services.issue_ticket(user=user, kind=UserTicket.BK_TOKEN, app=app)
    assert UserTicket.objects.filter(user=user).count() == 1


def test_the_database_refuses_a_bk_token_with_an_app(gate):
    from django.db import IntegrityError, transaction

    login, _ = services.issue_ticket(user=services.ensure_user(username="tess"), kind=UserTicket.BK_TOKEN)
    with pytest.raises(IntegrityError), transaction.atomic():
        UserTicket.objects.filter(pk=login.pk).update(app=App.objects.get(app_code="test-app"))


def test_binding_an_unbound_access_token_once(gate):
    other, _ = services.create_app(app_code="other-app")
    app = App.objects.get(app_code="test-app")
    ticket = UserTicket.objects.get(digest=token_digest(gate.tokens["olivia"]))
    with pytest.raises(InvalidInput, match=r"already bound to app\[test-app\]"):
        services.bind_ticket(ticket=ticket, app=other)
    UserTicket.objects.filter(pk=ticket.pk).update(app=None)  # as migrations/0002 leaves an old token
    ticket.refresh_from_db()
    assert services.bind_ticket(ticket=ticket, app=other).app == other
    ticket.refresh_from_db()
    assert ticket.app == other
    services.bind_ticket(ticket=ticket, app=other)  # the same app again: nothing to do, no error
    login, _ = services.issue_ticket(user=ticket.user, kind=UserTicket.BK_TOKEN)
    with pytest.raises(InvalidInput, match="only an access_token is bound"):
        services.bind_ticket(ticket=login, app=app)


def test_revoking_and_disabling_take_effect_at_once_in_this_process(gate, settings):
    from access_app import cache
    from access_app.authentication import authenticate

    settings.SOPS_AUTH_CACHE_SECONDS = 60
    cache.clear()
    creds = {"app_code": "test-app", "app_secret": SECRET, "access_token": gate.tokens["olivia"]}
    authenticate(**creds)  # remembered now
    assert services.revoke_tickets(tickets=UserTicket.objects.filter(user__username="olivia")) == 1
    with pytest.raises(Forbidden, match="unknown or revoked"):
        authenticate(**creds)
    assert services.set_apps_enabled(apps=App.objects.all(), enabled=False) == 1
    with pytest.raises(Forbidden, match="is disabled"):
        authenticate(**{**creds, "access_token": gate.tokens["vera"]})
    cache.clear()


def test_businesses_and_roles(gate):
    with pytest.raises(InvalidInput, match=r"business\[bk_biz_id=2\] already exists"):
        services.create_business(bk_biz_id=2, name="again")
    with pytest.raises(InvalidInput, match="is not an IANA time zone"):
        services.create_business(bk_biz_id=9, name="x", time_zone="Mars/Olympus")
    user = services.ensure_user(username="vera")
    assert services.set_member_role(business=gate.biz, user=user, role=Role.MAINTAINER).role == Role.MAINTAINER
    assert BusinessMember.objects.filter(business=gate.biz, user=user).count() == 1
    with pytest.raises(InvalidInput, match="role must be one of"):
        services.set_member_role(business=gate.biz, user=user, role="king")
