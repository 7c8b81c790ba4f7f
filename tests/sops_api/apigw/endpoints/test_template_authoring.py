"""import_project_template, create_template and copy_template_across_project through the HTTP API."""
from __future__ import annotations

import json

import pytest

from sops_api.apigw.errors import (
    CONTENT_NOT_EXIST,
    INVALID_OPERATION,
    REQUEST_FORBIDDEN_INVALID,
    REQUEST_PARAM_INVALID,
)
from tests.sops_api.apigw.endpoints.test_common_templates import export_file
from tests.support.gate import assert_forbidden, broken_tree, simple_tree

pytestmark = pytest.mark.django_db


def post(client, url, gate, user="max", **body):
    response = client.post(url, json.dumps({**gate.creds(user), **body}), content_type="application/json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def trusted(settings):
    settings.APP_WHITELIST = ["test-app"]


@pytest.fixture
def biz7(gate):
    """Business 7, where max is maintainer too and olivia only a viewer."""
    from access_app.models import Business, Role
    from access_app.services import ensure_user, set_member_role

    biz = Business.objects.get(bk_biz_id=7)
    set_member_role(business=biz, user=ensure_user(username="max"), role=Role.MAINTAINER)
    set_member_role(business=biz, user=ensure_user(username="olivia"), role=Role.VIEWER)
    return biz


# --- import_project_template ----------------------------------------------------------------------------

def test_import_project_template(client, gate, trusted):
    from templates_app.models import Template

    tree = simple_tree("c")
    tree["activities"]["cact"]["component"]["data"] = {"biz_cc_id": {"hook": False, "value": 99}}
    body = post(client, "/apigw/import_project_template/2/", gate,
                template_data=export_file("project", {"ptmpl1": _parent(), "ptmpl2": tree}))
    assert body["result"] is True, body
    assert body["data"]["count"] == 2 and body["message"] == "Successfully imported 2 flows"
    made = Template.objects.filter(pk__in=[int(k) for k in body["data"]["flows"]])
    assert {t.business_id for t in made} == {gate.biz.pk} and {t.source for t in made} == {"business"}
    child = made.get(name="child")
    # the business selector points at the target business
    assert child.pipeline_tree["activities"]["cact"]["component"]["data"]["biz_cc_id"]["value"] == 2
    parent = made.get(name="parent")
    assert parent.pipeline_tree["activities"]["pact"]["template_id"] == child.pk
    assert parent.pipeline_tree["activities"]["pact"]["template_source"] == "business"


def _parent():
    parent = simple_tree("p")
    parent["activities"]["pact"] = {"id": "pact", "type": "SubProcess", "name": "child", "incoming": "pf1",
                                    "outgoing": "pf2", "template_id": "ptmpl2", "constants": {}}
    return parent


def test_import_project_template_by_a_limited_app(client, gate, settings):
    settings.BKAPP_ALLOWED_LIMITED_API_APPS = ["test-app"]
    assert post(client, "/apigw/import_project_template/2/", gate, template_data=export_file("project"))["result"]


def test_import_project_template_refusals(client, gate, trusted):
    # below maintainer
    assert_forbidden(post(client, "/apigw/import_project_template/2/", gate, "olivia",
                          template_data=export_file("project")), "needs the maintainer role")
    # another business
    assert_forbidden(post(client, "/apigw/import_project_template/7/", gate, template_data=export_file()),
                     "bk_biz_id=7")


def test_import_project_template_untrusted_app(client, gate):
    body = post(client, "/apigw/import_project_template/2/", gate, template_data=export_file())
    assert body["code"] == REQUEST_FORBIDDEN_INVALID and body["message"] == "you have no permission to call this api."


def test_import_project_template_bad_input(client, gate, trusted):
    from templates_app.models import Template

    before = Template.objects.count()
    for content, fragment in (("", "template data can not be none"), ("%%%", "模板参数缺陷")):
        body = post(client, "/apigw/import_project_template/2/", gate, template_data=content)
        assert body["code"] == REQUEST_PARAM_INVALID and fragment in body["message"]
    body = post(client, "/apigw/import_project_template/2/", gate,
                template_data=export_file("project", {"ptmpl1": simple_tree("a"), "ptmpl2": broken_tree()}))
    assert body["code"] == REQUEST_PARAM_INVALID and "template child" in body["message"]
    assert Template.objects.count() == before


def test_import_refuses_a_subprocess_the_file_lacks(client, gate, trusted):
    tree = _parent()
    tree["activities"]["pact"]["template_id"] = "elsewhere"
    body = post(client, "/apigw/import_project_template/2/", gate,
                template_data=export_file("project", {"ptmpl1": tree, "ptmpl2": simple_tree("c")}))
    assert body["code"] == REQUEST_PARAM_INVALID and "the file does not hold" in body["message"]


# --- create_template ------------------------------------------------------------------------------------

def test_create_template(client, gate):
    from templates_app.models import Template

    tree = simple_tree("n")
    tree["activities"]["nact"]["name"] = "<b>pause</b> & $go"
    body = post(client, "/apigw/create_template/2/", gate, pipeline_tree=tree, name="deploy <prod>" + "x" * 60,
                category="OpsTools", timeout=5, notify_type=["mail"], description="d")
    assert body["result"] is True, body
    template = Template.objects.get(pk=body["data"]["template_id"])
    assert template.name == ("deploy prod" + "x" * 60)[:50] == body["data"]["template_name"]
    assert template.business_id == gate.biz.pk and template.creator == "max" and template.category == "OpsTools"
    assert template.time_out == 5 and template.notify_type == {"success": ["mail"], "fail": ["mail"]}
    assert template.pipeline_tree["activities"]["nact"]["name"] == "bpause/b  go"
    assert body["data"]["pipeline_template_id"] == template.version[:32] and template.versions.count() == 1


def test_create_template_defaults_and_json_text(client, gate):
    from templates_app.models import Template

    body = post(client, "/apigw/create_template/2/", gate, pipeline_tree=json.dumps(simple_tree("n")))
    assert body["result"] is True, body
    template = Template.objects.get(pk=body["data"]["template_id"])
    assert template.name.startswith("new") and len(template.name) == 17
    assert template.category == "Default" and template.time_out == 20 and template.default_flow_type == "common"


def test_create_template_refusals(client, gate):
    tree = simple_tree("n")
    assert_forbidden(post(client, "/apigw/create_template/2/", gate, "olivia", pipeline_tree=tree),
                     "needs the maintainer role")
    assert_forbidden(post(client, "/apigw/create_template/7/", gate, pipeline_tree=tree), "bk_biz_id=7")


@pytest.mark.parametrize("body, fragment", [
    ({}, "pipeline_tree is required"),
    ({"pipeline_tree": "{not json"}, "pipeline_tree is not a valid JSON string"),
    ({"pipeline_tree": [1]}, "pipeline_tree must be a JSON object"),
    ({"pipeline_tree": "x: 1", "format": "yaml"}, "format=yaml is not supported"),
    ({"template_labels": [1]}, "template_labels contain invalid label ids"),
    ({"category": "Games"}, "category"),
    ({"timeout": "soon"}, "timeout"),
    ({"pipeline_tree": broken_tree()}, "pipeline_tree is invalid"),
])
def test_create_template_bad_input(client, gate, body, fragment):
    from templates_app.models import Template

    body = {"pipeline_tree": simple_tree("n"), **body} if "pipeline_tree" in body or body else body
    before = Template.objects.count()
    answer = post(client, "/apigw/create_template/2/", gate, **body)
    assert answer["result"] is False and answer["code"] == REQUEST_PARAM_INVALID, answer
    assert fragment in answer["message"]
    assert Template.objects.count() == before


# --- copy_template_across_project -----------------------------------------------------------------------

@pytest.fixture
def with_subprocess(gate):
    """A template of business 2 running another of business 2 and a common one."""
    from templates_app.services import create_template

    child = create_template(name="child", pipeline_tree=simple_tree("c"), creator="a", business=gate.biz)
    common = create_template(name="common child", pipeline_tree=simple_tree("m"), creator="a")
    tree = simple_tree("p")
    tree["activities"]["pact"] = {"id": "pact", "type": "SubProcess", "name": "child", "incoming": "pf1",
                                  "outgoing": "pf2", "template_id": child.pk, "constants": {}}
    tree["activities"]["pcommon"] = {"id": "pcommon", "type": "SubProcess", "name": "c", "incoming": "pf2",
                                     "outgoing": "pf3", "template_id": common.pk, "template_source": "common",
                                     "constants": {}}
    tree["activities"]["pact"]["outgoing"] = "pf2"
    tree["flows"]["pf2"] = {"id": "pf2", "source": "pact", "target": "pcommon", "is_default": False}
    tree["flows"]["pf3"] = {"id": "pf3", "source": "pcommon", "target": "pend", "is_default": False}
    tree["end_event"]["incoming"] = "pf3"
    parent = create_template(name="parent", pipeline_tree=tree, creator="a", business=gate.biz)
    return {"parent": parent, "child": child, "common": common}


def test_copy_across(client, gate, biz7, trusted, with_subprocess):
    from templates_app.models import Template

    body = post(client, "/apigw/copy_template_across_project/2/", gate, new_project_id=biz7.pk,
                template_ids=[with_subprocess["parent"].pk])
    assert body["result"] is True, body
    assert body["data"]["count"] == 2
    copies = Template.objects.filter(pk__in=[int(k) for k in body["data"]["flows"]])
    assert {t.business_id for t in copies} == {biz7.pk} and sorted(t.name for t in copies) == ["child", "parent"]
    parent = copies.get(name="parent")
    assert parent.pipeline_tree["activities"]["pact"]["template_id"] == copies.get(name="child").pk
    assert parent.pipeline_tree["activities"]["pcommon"]["template_id"] == with_subprocess["common"].pk
    assert parent.creator == "max"


def test_copy_needs_the_role_in_both_businesses(client, gate, biz7, trusted, with_subprocess):
    from access_app.models import Role
    from access_app.services import ensure_user, set_member_role

    ids = [with_subprocess["parent"].pk]
    # maintainer of business 2 only
    set_member_role(business=biz7, user=ensure_user(username="max"), role=Role.OPERATOR)
    assert_forbidden(post(client, "/apigw/copy_template_across_project/2/", gate, new_project_id=biz7.pk,
                          template_ids=ids), "bk_biz_id=7")
    # viewer of the source
    assert_forbidden(post(client, "/apigw/copy_template_across_project/2/", gate, "olivia",
                          new_project_id=biz7.pk, template_ids=ids), "needs the maintainer role")


def test_copy_from_a_business_without_role(client, gate, biz7, trusted, with_subprocess):
    # the path names business 7; its templates are not those of business 2
    body = post(client, "/apigw/copy_template_across_project/7/", gate, new_project_id=gate.biz.pk,
                template_ids=[with_subprocess["parent"].pk])
    assert body["code"] == CONTENT_NOT_EXIST and "does not exist" in body["message"]
    assert_forbidden(post(client, "/apigw/copy_template_across_project/7/", gate, "vera",
                          new_project_id=gate.biz.pk, template_ids=[1]), "vera")


def test_copy_untrusted_app(client, gate, biz7, with_subprocess):
    body = post(client, "/apigw/copy_template_across_project/2/", gate, new_project_id=biz7.pk,
                template_ids=[with_subprocess["parent"].pk])
    assert body["code"] == REQUEST_FORBIDDEN_INVALID


def test_copy_at_most_ten(client, gate, biz7, trusted):
    from templates_app.services import create_template

    ids = [create_template(name=f"t{i}", pipeline_tree=simple_tree(f"t{i}"), creator="a", business=gate.biz).pk
           for i in range(11)]
    body = post(client, "/apigw/copy_template_across_project/2/", gate, new_project_id=biz7.pk, template_ids=ids)
    assert body["code"] == INVALID_OPERATION and body["message"] == "only 10 templates can be copied once."


@pytest.mark.parametrize("body, fragment", [
    ({"template_ids": [1]}, "new_project_id is required"),
    ({"new_project_id": "x", "template_ids": [1]}, "new_project_id"),
    ({"new_project_id": 0, "template_ids": [1, 1]}, "template_ids must not repeat an id"),
    ({"new_project_id": 0, "template_ids": []}, "template_ids"),
    ({"new_project_id": "same", "template_ids": [1]}, "无法导入流程到到同一个项目"),
])
def test_copy_bad_input(client, gate, biz7, trusted, body, fragment):
    if body.get("new_project_id") == "same":
        body["new_project_id"] = str(gate.biz.pk)  # a string id no longer slips past the check
    answer = post(client, "/apigw/copy_template_across_project/2/", gate, **body)
    assert answer["result"] is False and answer["code"] == REQUEST_PARAM_INVALID, answer
    assert fragment in answer["message"]
