"""The operator's admin of templates and their versions, and the template count on the business page."""
from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from templates_app.models import Template, TemplateVersion
from tests.support.gate import broken_tree, simple_tree

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["template", "templateversion"])
def test_changelists_and_add_pages_load(admin_client, templates, name):
    assert admin_client.get(reverse(f"admin:templates_app_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:templates_app_{name}_changelist"), {"q": "a"}).status_code == 200


def test_change_pages_load(admin_client, templates):
    pages = [
        reverse("admin:templates_app_template_change", args=[templates["first"].pk]),
        reverse("admin:templates_app_templateversion_change", args=[TemplateVersion.objects.first().pk]),
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url


def test_business_list_counts_templates_and_members(admin_client, gate, templates):
    html = admin_client.get(reverse("admin:access_app_business_changelist")).content.decode()
    # business 2: 3 templates (the soft-deleted one is still a row), 3 members (root is a superuser, not one)
    row = re.search(r'<tr>.*?blueking.*?</tr>', html, re.S).group(0)
    cells = re.findall(r'<td class="field-(\w+)[^"]*">(.*?)</td>', row, re.S)
    assert dict(cells)["template_count"] == "3"
    assert dict(cells)["member_count"] == "3"


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


def test_a_tree_over_the_expansion_budget_is_a_form_error(admin_client, gate):
    from tests.support.task_trees import inline_nest

    response = admin_client.post(reverse("admin:templates_app_template_add"),
                                 template_form(inline_nest(9), gate.biz, name="too deep"))
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["pipeline_tree"]
    assert error.startswith("template[name=too deep] nests subprocesses 9 levels deep at "
                            "subprocess node[id=sub0], more than 8 (the limit is SOPS_MAX_SUBPROCESS_DEPTH)"), error
    assert not Template.objects.exists()


def test_json_nested_past_the_limit_is_a_form_error_not_a_server_error(admin_client, gate):
    """Django's JSONField let the parser's RecursionError through: a 500."""
    data = template_form({}, gate.biz)
    data["pipeline_tree"] = "[" * 100_000 + "]" * 100_000
    response = admin_client.post(reverse("admin:templates_app_template_add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["pipeline_tree"] == [
        "pipeline_tree is nested deeper than 64 levels"]
    assert not Template.objects.exists()
