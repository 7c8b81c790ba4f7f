"""The operator's admin of apps, tickets, businesses and their members."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from access_app.hashing import token_digest
from access_app.models import App, UserTicket
from tests.support.admin_pages import messages_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["app", "userticket", "business", "businessmember"])
def test_changelists_and_add_pages_load(admin_client, templates, name):
    app_label = "access_app"
    assert admin_client.get(reverse(f"admin:{app_label}_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:{app_label}_{name}_changelist"), {"q": "a"}).status_code == 200


def test_change_pages_load(admin_client, gate, templates):
    pages = [
        reverse("admin:access_app_app_change", args=[App.objects.first().pk]),
        reverse("admin:access_app_userticket_change", args=[UserTicket.objects.first().pk]),
        reverse("admin:access_app_business_change", args=[gate.biz.pk]),
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url


def test_business_page_lists_members_inline(admin_client, gate):
    html = admin_client.get(reverse("admin:access_app_business_change", args=[gate.biz.pk])).content.decode()
    assert "olivia" in html and "maintainer" in html



def test_add_app_shows_generated_secret_once(admin_client):
    response = admin_client.post(reverse("admin:access_app_app_add"),
                                 {"app_code": "new-app", "name": "New", "enabled": "on", "new_secret": ""},
                                 follow=True)
    text = " ".join(messages_of(response)) or response.content.decode()
    secret = re.search(r"shown only now: (\S+)", text).group(1)
    assert App.objects.get(app_code="new-app").check_secret(secret)


def test_app_actions(admin_client, gate):
    app = App.objects.get(app_code="test-app")
    url = reverse("admin:access_app_app_changelist")
    response = admin_client.post(url, {"action": "generate_new_secret", "_selected_action": [app.pk]}, follow=True)
    secret = re.search(r"shown only now: (\S+)", " ".join(messages_of(response))).group(1)
    app.refresh_from_db()
    assert app.check_secret(secret) and not app.check_secret(gate.app_secret)

    admin_client.post(url, {"action": "disable_apps", "_selected_action": [app.pk]})
    app.refresh_from_db()
    assert app.enabled is False
    admin_client.post(url, {"action": "enable_apps", "_selected_action": [app.pk]})
    app.refresh_from_db()
    assert app.enabled is True


def test_change_app_secret_through_the_form(admin_client, gate):
    app = App.objects.get(app_code="test-app")
    admin_client.post(reverse("admin:access_app_app_change", args=[app.pk]),
                      {"app_code": "test-app", "name": "x", "enabled": "on", "new_secret": "typed-secret"})
    app.refresh_from_db()
    assert app.check_secret("typed-secret")



def test_add_ticket_shows_token_once(admin_client, gate):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="olivia")
    response = admin_client.post(reverse("admin:access_app_userticket_add"),
                                 {"user": user.pk, "kind": "bk_token", "expires_at_0": "", "expires_at_1": ""},
                                 follow=True)
    token = re.search(r"shown only now: (\S+)", " ".join(messages_of(response))).group(1)
    ticket = UserTicket.objects.get(digest=token_digest(token))
    assert ticket.user == user and ticket.kind == "bk_token" and ticket.hint == token[:6]


def test_revoke_action_and_state_filter(admin_client, gate):
    ticket = UserTicket.objects.get(digest=token_digest(gate.tokens["olivia"]))
    url = reverse("admin:access_app_userticket_changelist")
    admin_client.post(url, {"action": "revoke_tickets", "_selected_action": [ticket.pk]})
    ticket.refresh_from_db()
    assert ticket.revoked is True
    html = admin_client.get(url, {"state": "revoked"}).content.decode()
    assert ticket.hint in html




def test_ticket_list_shows_and_filters_the_app_binding(admin_client, gate):
    from access_app.services import issue_ticket

    other = App.objects.create(app_code="other-app", secret_hash="x")
    user = UserTicket.objects.get(digest=token_digest(gate.tokens["olivia"])).user
    bound_elsewhere, _ = issue_ticket(user=user, app=other)
    login, _ = issue_ticket(user=user, kind="bk_token")
    unbound = UserTicket.objects.get(digest=token_digest(gate.tokens["vera"]))
    UserTicket.objects.filter(pk=unbound.pk).update(app=None)
    url = reverse("admin:access_app_userticket_changelist")
    html = admin_client.get(url).content.decode()
    assert "test-app" in html and "other-app" in html and "any app" in html and "unbound" in html

    def listed(**query) -> set[int]:
        return {t.pk for t in admin_client.get(url, query).context["cl"].result_list}

    assert listed(app__id__exact=other.pk) == {bound_elsewhere.pk}
    assert listed(app__isnull="True") == {login.pk, unbound.pk}


def test_add_access_token_needs_an_app_and_a_bk_token_none(admin_client, gate):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="olivia")
    app = App.objects.get(app_code="test-app")
    add = reverse("admin:access_app_userticket_add")
    form = {"user": user.pk, "expires_at_0": "", "expires_at_1": ""}
    before = UserTicket.objects.count()
    page = admin_client.post(add, {**form, "kind": "access_token"}).content.decode()
    assert "an access_token is issued for an app" in page
    page = admin_client.post(add, {**form, "kind": "bk_token", "app": app.pk}).content.decode()
    assert "belongs to no app" in page
    assert UserTicket.objects.count() == before
    response = admin_client.post(add, {**form, "kind": "access_token", "app": app.pk}, follow=True)
    token = re.search(r"shown only now: (\S+)", " ".join(messages_of(response))).group(1)
    assert UserTicket.objects.get(digest=token_digest(token)).app == app


def test_an_unbound_access_token_may_be_bound_once_in_the_admin(admin_client, gate):
    ticket = UserTicket.objects.get(digest=token_digest(gate.tokens["olivia"]))
    change = reverse("admin:access_app_userticket_change", args=[ticket.pk])
    assert 'name="app"' not in admin_client.get(change).content.decode()  # bound: read-only
    UserTicket.objects.filter(pk=ticket.pk).update(app=None)
    assert 'name="app"' in admin_client.get(change).content.decode()
    app = App.objects.get(app_code="test-app")
    admin_client.post(change, {"app": app.pk, "expires_at_0": "", "expires_at_1": "", "revoked": ""})
    ticket.refresh_from_db()
    assert ticket.app == app
    assert 'name="app"' not in admin_client.get(change).content.decode()


def test_apps_with_an_old_pbkdf2_hash_are_shown_and_filtered(admin_client, gate):
    from tests.access_app.legacy import legacy_secret_hash

    old = App.objects.create(app_code="old-app", secret_hash=legacy_secret_hash("old-secret"))
    url = reverse("admin:access_app_app_changelist")
    assert "old PBKDF2" in admin_client.get(url).content.decode()
    legacy = {a.app_code for a in admin_client.get(url, {"secret_hash": "legacy"}).context["cl"].result_list}
    keyed = {a.app_code for a in admin_client.get(url, {"secret_hash": "keyed"}).context["cl"].result_list}
    assert (legacy, keyed) == ({old.app_code}, {"test-app"})
