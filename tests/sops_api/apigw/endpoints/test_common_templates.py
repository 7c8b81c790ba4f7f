"""get_common_template_list, get_common_template_info, preview_common_task_tree, import_common_template."""
from __future__ import annotations

import json

import pytest

from sops_api.apigw.errors import (
    CONTENT_NOT_EXIST,
    INVALID_OPERATION,
    REQUEST_FORBIDDEN_INVALID,
    REQUEST_PARAM_INVALID,
)
from templates_app import exchange
from tests.support.gate import assert_forbidden, simple_tree

pytestmark = pytest.mark.django_db


def get(client, url, gate, user="olivia", **params):
    response = client.get(url, {**gate.creds(user), **params})
    assert response.status_code == 200
    return response.json()


def post(client, url, gate, user="olivia", **body):
    response = client.post(url, json.dumps({**gate.creds(user), **body}), content_type="application/json")
    assert response.status_code == 200
    return response.json()


# --- get_common_template_list ---------------------------------------------------------------------------

def test_list_common_templates(client, gate, templates):
    body = get(client, "/apigw/get_common_template_list/", gate)
    assert body["result"] is True and body["code"] == 0
    assert [item["name"] for item in body["data"]] == ["shared"]
    item = body["data"][0]
    assert set(item) == {"id", "name", "category", "creator", "create_time", "editor", "edit_time", "description",
                         "auth_actions"}
    assert item["id"] == templates["common"].pk
    # an operator may view and create tasks, not create periodic tasks nor edit
    assert item["auth_actions"] == ["common_flow_view", "common_flow_create_task"]


def test_list_auth_actions_follow_the_best_role(client, gate, templates):
    assert get(client, "/apigw/get_common_template_list/", gate, "vera")["data"][0]["auth_actions"] == [
        "common_flow_view"]
    assert "common_flow_create_periodic_task" in get(
        client, "/apigw/get_common_template_list/", gate, "max")["data"][0]["auth_actions"]
    assert len(get(client, "/apigw/get_common_template_list/", gate, "root")["data"][0]["auth_actions"]) == 6


def test_list_include_notify_and_timezone(client, gate, templates):
    body = get(client, "/apigw/get_common_template_list/", gate, include_notify="true", expected_timezone="UTC")
    item = body["data"][0]
    assert item["notify_type"] == {"success": [], "fail": []}
    assert item["notify_receivers"] == {"receiver_group": [], "more_receiver": ""}
    assert item["create_time"].endswith("+0000")


def test_list_refuses_a_user_without_any_role(client, gate, templates):
    assert_forbidden(get(client, "/apigw/get_common_template_list/", gate, "otto"), "no role in any business")


@pytest.mark.parametrize("params, fragment", [
    ({"include_notify": "maybe"}, "include_notify"),
    ({"expected_timezone": "Mars/Olympus"}, "expected_timezone Mars/Olympus is unknown."),
])
def test_list_bad_input(client, gate, templates, params, fragment):
    body = get(client, "/apigw/get_common_template_list/", gate, **params)
    assert body["result"] is False and body["code"] == REQUEST_PARAM_INVALID
    assert fragment in body["message"]


# --- get_common_template_info ---------------------------------------------------------------------------

def test_info(client, gate, templates):
    pk = templates["common"].pk
    body = get(client, f"/apigw/get_common_template_info/{pk}/", gate, include_constants="1",
               include_subprocess="true", include_notify="true")
    assert body["result"] is True, body
    data = body["data"]
    assert data["id"] == pk and data["name"] == "shared"
    assert "line" not in data["pipeline_tree"] and "location" not in data["pipeline_tree"]
    assert data["pipeline_tree"]["constants"]["${x}"]["schema"] == {"type": "string", "description": ""}
    assert data["has_subprocess"] is False and data["subprocess_has_update"] is False
    # ${x} is referenced by no node: pruned
    assert data["template_constants"] == []
    assert data["notify_type"] == {"success": [], "fail": []}


def test_info_template_constants_count_nodes(client, gate):
    from templates_app.services import create_template

    tree = simple_tree("k")
    tree["activities"]["kact"]["component"]["data"] = {"callback_data": {"hook": True, "value": "${x}"}}
    template = create_template(name="uses x", pipeline_tree=tree, creator="a")
    data = get(client, f"/apigw/get_common_template_info/{template.pk}/", gate, include_constants="true")["data"]
    assert data["template_constants"] == [
        {"name": "x", "key": "${x}", "show_type": "show", "constant_type": "输入框", "activity_count": 1}]


def test_info_of_a_business_or_deleted_template_is_not_found(client, gate, templates):
    # another business's template is not reachable through the common endpoints either
    for key in ("first", "deleted", "other_biz"):
        body = get(client, f"/apigw/get_common_template_info/{templates[key].pk}/", gate)
        assert body["code"] == CONTENT_NOT_EXIST
        assert body["message"] == f"common template[id={templates[key].pk}] does not exist"


def test_info_refuses_outsiders_and_bad_input(client, gate, templates):
    pk = templates["common"].pk
    assert_forbidden(get(client, f"/apigw/get_common_template_info/{pk}/", gate, "otto"), "no role")
    body = get(client, f"/apigw/get_common_template_info/{pk}/", gate, include_constants="perhaps")
    assert body["code"] == REQUEST_PARAM_INVALID and "include_constants" in body["message"]


# --- preview_common_task_tree ---------------------------------------------------------------------------

def _optional_common(gate):
    from templates_app.services import create_template

    tree = simple_tree("p")
    tree["activities"]["pact"]["optional"] = True
    tree["activities"]["pact"]["component"]["data"] = {"callback_data": {"hook": True, "value": "${x}"}}
    return create_template(name="optional", pipeline_tree=tree, creator="a")


def test_preview(client, gate):
    template = _optional_common(gate)
    url = f"/apigw/preview_common_task_tree/2/{template.pk}/"
    body = post(client, url, gate, "vera", exclude_task_nodes_id=["pact"])
    assert body["result"] is True, body
    assert body["data"]["pipeline_tree"]["activities"] == {}
    assert list(body["data"]["constants_not_referred"]) == ["${x}"]
    kept = post(client, url, gate, "vera")["data"]
    assert list(kept["pipeline_tree"]["activities"]) == ["pact"] and kept["constants_not_referred"] == {}


def test_preview_an_older_version(client, gate):
    from templates_app.services import update_template_tree

    template = _optional_common(gate)
    first = template.version
    tree = simple_tree("p")
    tree["activities"]["pact"]["name"] = "renamed"
    update_template_tree(template=template, pipeline_tree=tree, editor="b")
    url = f"/apigw/preview_common_task_tree/2/{template.pk}/"
    assert post(client, url, gate, version=first)["data"]["pipeline_tree"]["activities"]["pact"]["name"] == "暂停"
    assert post(client, url, gate)["data"]["pipeline_tree"]["activities"]["pact"]["name"] == "renamed"
    assert post(client, url, gate, version="f" * 64)["code"] == CONTENT_NOT_EXIST


def test_preview_scope_project(client, gate):
    template = _optional_common(gate)
    body = post(client, f"/apigw/preview_common_task_tree/{gate.biz.pk}/{template.pk}/", gate, scope="project")
    assert body["result"] is True


def test_preview_refusals(client, gate, templates):
    template = _optional_common(gate)
    # a business the caller has no role in
    assert_forbidden(post(client, f"/apigw/preview_common_task_tree/7/{template.pk}/", gate), "bk_biz_id=7")
    assert_forbidden(post(client, f"/apigw/preview_common_task_tree/2/{template.pk}/", gate, "otto"), "otto")
    # a business template is no common template
    body = post(client, f"/apigw/preview_common_task_tree/2/{templates['first'].pk}/", gate)
    assert body["code"] == CONTENT_NOT_EXIST


@pytest.mark.parametrize("body, fragment", [
    ({"exclude_task_nodes_id": "pact"}, "invalid exclude_task_nodes_id"),
    ({"exclude_task_nodes_id": ["nope"]}, "task node[id=nope] is not in template pipeline tree"),
    ({"scope": "galaxy"}, "scope"),
])
def test_preview_bad_input(client, gate, body, fragment):
    template = _optional_common(gate)
    answer = post(client, f"/apigw/preview_common_task_tree/2/{template.pk}/", gate, **body)
    assert answer["result"] is False and answer["code"] == REQUEST_PARAM_INVALID
    assert fragment in answer["message"]


# --- import_common_template -----------------------------------------------------------------------------

def export_file(source="common", trees=None, *, salt=exchange.SALTS[0]):
    """An export file as the original writes it: template 1 runs template 2 as a subprocess."""
    child = simple_tree("c")
    parent = simple_tree("p")
    parent["activities"]["pact"] = {"id": "pact", "type": "SubProcess", "name": "child", "incoming": "pf1",
                                    "outgoing": "pf2", "optional": False, "template_id": "ptmpl2",
                                    "version": "oldmd5", "template_source": source, "constants": {}}
    trees = trees or {"ptmpl1": parent, "ptmpl2": child}
    data = {
        "template_source": source,
        "template": {"1": {"id": 1, "pipeline_template_str_id": "ptmpl1", "category": "OpsTools",
                           "notify_type": '["mail"]', "time_out": 30},
                     "2": {"id": 2, "pipeline_template_str_id": "ptmpl2", "category": "Default"}},
        "pipeline_template_data": {
            "template": {"ptmpl1": {"name": "parent", "description": "runs child"}, "ptmpl2": {"name": "child"}},
            "tree": trees},
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("/", "\\/")
    import base64
    import hashlib

    payload = {"template_data": data, "digest": hashlib.md5((text + salt).encode()).hexdigest()}
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def trusted(settings):
    settings.APP_WHITELIST = ["test-app"]


def test_import_common(client, gate, trusted):
    from templates_app.models import Template

    body = post(client, "/apigw/import_common_template/", gate, "vera", template_data=export_file())
    assert body["result"] is True, body
    assert body["message"] == "Successfully imported 2 flows"
    assert body["data"]["count"] == 2
    flows = body["data"]["flows"]
    assert sorted(flows.values()) == ["child", "parent"]
    parent = Template.objects.get(pk=int(next(k for k, v in flows.items() if v == "parent")))
    child = Template.objects.get(pk=int(next(k for k, v in flows.items() if v == "child")))
    assert parent.source == child.source == "common"
    assert parent.category == "OpsTools" and child.category == "Default"
    assert parent.notify_type == {"success": ["mail"], "fail": ["mail"]} and parent.time_out == 30
    node = parent.pipeline_tree["activities"]["pact"]
    assert node["template_id"] == child.pk and node["template_source"] == "common" and "version" not in node
    assert parent.versions.count() == 1 and parent.creator == "vera"


def test_import_accepts_the_old_community_salt(client, gate, trusted):
    body = post(client, "/apigw/import_common_template/", gate, template_data=export_file(salt=exchange.SALTS[1]))
    assert body["result"] is True, body


def test_import_override(client, gate, trusted):
    from templates_app.models import Template
    from templates_app.services import create_template

    existing = create_template(name="old", pipeline_tree=simple_tree("o"), creator="a")
    content = export_file()
    # the file's template 2 (the child) takes the existing common template's id
    decoded = json.loads(__import__("base64").b64decode(content))
    data = decoded["template_data"]
    data["template"] = {str(existing.pk): {**data["template"]["2"], "id": existing.pk},
                        str(existing.pk + 1000): data["template"]["1"]}
    content = exchange.encode(data)
    body = post(client, "/apigw/import_common_template/", gate, template_data=content, override="true")
    assert body["result"] is True, body
    existing.refresh_from_db()
    assert existing.name == "child" and existing.versions.count() == 2
    assert str(existing.pk) in body["data"]["flows"]
    assert Template.objects.filter(source="common").count() == 2


def test_import_override_with_a_project_file(client, gate, trusted):
    body = post(client, "/apigw/import_common_template/", gate, template_data=export_file("project"),
                override=True)
    assert body["code"] == INVALID_OPERATION and "不能使用项目流程覆盖公共流程" in body["message"]


def test_import_refuses_untrusted_apps(client, gate):
    body = post(client, "/apigw/import_common_template/", gate, "root", template_data=export_file())
    assert body["code"] == REQUEST_FORBIDDEN_INVALID and body["message"] == "you have no permission to call this api."


def test_import_trusts_the_original_defaults(client, gate):
    from access_app.models import App
    from access_app.trust import is_trusted

    assert is_trusted(App(app_code="bk_monitorv3")) and not is_trusted(App(app_code="test-app"))


@pytest.mark.parametrize("content, fragment", [
    ("", "template data can not be none"),
    ("!!!not base64", "模板参数缺陷"),
    (__import__("base64").b64encode(b'{"template_data": {}, "digest": "0"}').decode(), "模板参数非法"),
])
def test_import_bad_input(client, gate, trusted, content, fragment):
    body = post(client, "/apigw/import_common_template/", gate, template_data=content)
    assert body["result"] is False and body["code"] == REQUEST_PARAM_INVALID
    assert fragment in body["message"]


def test_import_is_one_transaction(client, gate, trusted):
    """An invalid tree in the file imports nothing, not even the valid templates before it."""
    from templates_app.models import Template
    from tests.support.gate import broken_tree

    # the first template (no subprocess) is created, then the second is refused
    content = export_file(trees={"ptmpl1": simple_tree("c"), "ptmpl2": broken_tree()})
    before = Template.objects.count()
    body = post(client, "/apigw/import_common_template/", gate, template_data=content)
    assert body["result"] is False and body["code"] == REQUEST_PARAM_INVALID
    assert "template child" in body["message"]
    assert Template.objects.count() == before


def test_list_query_count_is_constant(client, gate, templates, django_assert_max_num_queries):
    from templates_app.services import create_template

    for i in range(5):
        create_template(name=f"more{i}", pipeline_tree=simple_tree(f"m{i}"), creator="a", validate=False)
    # authentication and the role lookups are remembered per process; the list itself is two queries
    with django_assert_max_num_queries(12):
        body = get(client, "/apigw/get_common_template_list/", gate)
    assert len(body["data"]) == 6
