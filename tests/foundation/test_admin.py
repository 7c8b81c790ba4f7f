"""The operator's admin: apps, tickets, businesses with members, templates."""
from __future__ import annotations

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from access_app.hashing import token_digest
from access_app.models import App, UserTicket
from templates_app.models import Template, TemplateVersion

from .conftest import broken_tree, simple_tree

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("model", ["access_app/app", "access_app/userticket", "access_app/business",
                                   "access_app/businessmember", "templates_app/template",
                                   "templates_app/templateversion"])
def test_changelists_and_add_pages_load(admin_client, templates, model):
    app_label, name = model.split("/")
    assert admin_client.get(reverse(f"admin:{app_label}_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:{app_label}_{name}_changelist"), {"q": "a"}).status_code == 200


def test_change_pages_load(admin_client, gate, templates):
    pages = [
        reverse("admin:access_app_app_change", args=[App.objects.first().pk]),
        reverse("admin:access_app_userticket_change", args=[UserTicket.objects.first().pk]),
        reverse("admin:access_app_business_change", args=[gate.biz.pk]),
        reverse("admin:templates_app_template_change", args=[templates["first"].pk]),
        reverse("admin:templates_app_templateversion_change", args=[TemplateVersion.objects.first().pk]),
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url


def test_business_page_lists_members_inline(admin_client, gate):
    html = admin_client.get(reverse("admin:access_app_business_change", args=[gate.biz.pk])).content.decode()
    assert "olivia" in html and "maintainer" in html


# --- apps ---------------------------------------------------------------------

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


# --- tickets ------------------------------------------------------------------

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


# --- templates ----------------------------------------------------------------

def template_form(tree, business=None, name="via admin", **extra) -> dict:
    return {"name": name, "business": business.pk if business else "", "category": "Other",
            "description": "", "creator": "", "pipeline_tree": json.dumps(tree), **extra,
            "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
            "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "0"}


def test_invalid_tree_is_a_form_error(admin_client, gate):
    response = admin_client.post(reverse("admin:templates_app_template_add"),
                                 template_form(broken_tree(), gate.biz))
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert "pipeline_tree is invalid" in errors["pipeline_tree"][0]
    assert "nowhere" in errors["pipeline_tree"][0]
    assert not Template.objects.exists()


def test_tree_that_is_not_json_is_a_form_error(admin_client, gate):
    data = template_form({}, gate.biz)
    data["pipeline_tree"] = "{oops"
    response = admin_client.post(reverse("admin:templates_app_template_add"), data)
    assert "pipeline_tree" in response.context["adminform"].form.errors


def test_add_and_edit_record_versions(admin_client, gate):
    response = admin_client.post(reverse("admin:templates_app_template_add"),
                                 template_form(simple_tree("a"), gate.biz))
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = Template.objects.get(name="via admin")
    assert (template.creator, template.source, template.editor) == ("admin", "business", None)
    assert template.versions.count() == 1 and template.version == template.versions.get().digest

    admin_client.post(reverse("admin:templates_app_template_change", args=[template.pk]),
                      template_form(simple_tree("b"), gate.biz, creator="admin"))
    template.refresh_from_db()
    assert template.editor == "admin" and template.versions.count() == 2
    assert "bact" in template.pipeline_tree["activities"]


def test_common_template_through_admin(admin_client, gate):
    response = admin_client.post(reverse("admin:templates_app_template_add"),
                                 template_form(simple_tree("a"), None, name="common one"))
    assert response.status_code == 302
    template = Template.objects.get(name="common one")
    assert template.source == "common" and template.business is None


def test_soft_delete_restore_and_filter(admin_client, templates):
    url = reverse("admin:templates_app_template_changelist")
    pk = templates["first"].pk
    admin_client.post(url, {"action": "soft_delete", "_selected_action": [pk]})
    assert Template.objects.get(pk=pk).is_deleted is True
    active = admin_client.get(url).context["cl"].queryset
    assert pk not in {t.pk for t in active}
    deleted = admin_client.get(url, {"deleted": "deleted"}).context["cl"].queryset
    assert pk in {t.pk for t in deleted}
    # Actions apply to the changelist as filtered by the URL: deleted ones are hidden by default.
    admin_client.post(f"{url}?deleted=deleted", {"action": "restore", "_selected_action": [pk]})
    assert Template.objects.get(pk=pk).is_deleted is False


def test_templates_cannot_be_hard_deleted(admin_client, templates):
    url = reverse("admin:templates_app_template_delete", args=[templates["first"].pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Template.objects.filter(pk=templates["first"].pk).exists()
