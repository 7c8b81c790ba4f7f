"""get_template_list and get_template_info against the spec's examples."""
from __future__ import annotations

import pytest

from sops_api.apigw.errors import CONTENT_NOT_EXIST, REQUEST_PARAM_INVALID
from tests.support.spec_examples import example_response

pytestmark = pytest.mark.django_db

# The keys of the spec's example responses (spec/apigw.md), kept here too so the
# test stands without the spec file.
LIST_ITEM_KEYS = {"category", "edit_time", "create_time", "name", "bk_biz_id", "creator", "bk_biz_name", "id",
                  "editor"}
INFO_KEYS = LIST_ITEM_KEYS | {"pipeline_tree"}
INFO_EXTRA_KEYS = {"description", "version"}  # the newest version's additions
TREE_KEYS = {"activities", "end_event", "outputs", "flows", "start_event", "constants", "gateways"}


def get(client, url, gate, **params):
    response = client.get(url, {**gate.creds(), **params})
    assert response.status_code == 200
    return response.json()


def test_list_shape_matches_spec(client, gate, templates):
    body = get(client, "/apigw/get_template_list/2/", gate)
    assert body["result"] is True and body["code"] == 0
    assert [item["name"] for item in body["data"]] == ["second", "first"]  # newest first, deleted left out
    for item in body["data"]:
        assert set(item) == LIST_ITEM_KEYS
        assert item["bk_biz_id"] == "2" and item["bk_biz_name"] == "blueking"
        assert isinstance(item["id"], int)


def test_list_item_values(client, gate, templates):
    body = get(client, "/apigw/get_template_list/2/", gate)
    first = next(item for item in body["data"] if item["name"] == "first")
    assert first == {
        "category": "OpsTools", "name": "first", "bk_biz_id": "2", "creator": "alice", "bk_biz_name": "blueking",
        "id": templates["first"].pk, "editor": "admin",
        # stored in UTC, shown in the business's zone (Asia/Shanghai), as the spec's example
        "create_time": "2018-04-23 17:26:40 +0800", "edit_time": "2018-04-23 17:30:48 +0800",
    }
    second = next(item for item in body["data"] if item["name"] == "second")
    assert second["editor"] is None  # never edited: null, as the spec allows


def test_times_follow_the_business_zone(client, gate, templates):
    from templates_app.models import Template

    Template.objects.filter(pk=templates["other_biz"].pk).update(
        create_time=templates["first"].create_time, edit_time=templates["first"].edit_time)
    body = get(client, "/apigw/get_template_list/7/", gate, access_token=gate.tokens["root"])
    assert body["data"][0]["create_time"] == "2018-04-23 09:26:40 +0000"  # business 7 is UTC
    assert body["data"][0]["bk_biz_id"] == "7" and body["data"][0]["bk_biz_name"] == "elsewhere"


def test_list_common_source(client, gate, templates):
    body = get(client, "/apigw/get_template_list/2/", gate, template_source="common")
    assert [item["name"] for item in body["data"]] == ["shared"]
    assert body["data"][0]["bk_biz_id"] == "2"


def test_list_project_is_an_alias_of_business(client, gate, templates):
    business = get(client, "/apigw/get_template_list/2/", gate)
    project = get(client, "/apigw/get_template_list/2/", gate, template_source="project")
    assert project == business


def test_list_unknown_source(client, gate, templates):
    body = get(client, "/apigw/get_template_list/2/", gate, template_source="mine")
    assert body["result"] is False and body["code"] == REQUEST_PARAM_INVALID


def test_info_shape_matches_spec(client, gate, templates):
    body = get(client, f"/apigw/get_template_info/{templates['first'].pk}/2/", gate)
    assert body["result"] is True
    data = body["data"]
    assert INFO_KEYS <= set(data) <= INFO_KEYS | INFO_EXTRA_KEYS
    assert set(data["pipeline_tree"]) == TREE_KEYS
    assert data["create_time"] == "2018-04-23 17:26:40 +0800"
    assert data["pipeline_tree"]["constants"]["${x}"]["value"] == "1"


def test_info_strips_layout_but_keeps_it_stored(client, gate, templates):
    body = get(client, f"/apigw/get_template_info/{templates['first'].pk}/2/", gate)
    tree = body["data"]["pipeline_tree"]
    assert "line" not in tree and "location" not in tree
    templates["first"].refresh_from_db()
    assert "line" in templates["first"].pipeline_tree and "location" in templates["first"].pipeline_tree


def test_info_alias_under_the_list_path(client, gate, templates):
    pk = templates["first"].pk
    direct = get(client, f"/apigw/get_template_info/{pk}/2/", gate)
    alias = get(client, f"/apigw/get_template_list/{pk}/2/", gate)
    assert alias == direct and alias["result"] is True


def test_info_common_source(client, gate, templates):
    pk = templates["common"].pk
    body = get(client, f"/apigw/get_template_info/{pk}/2/", gate, template_source="common")
    assert body["result"] is True and body["data"]["name"] == "shared"
    assert body["data"]["bk_biz_id"] == "2"


@pytest.mark.parametrize(("which", "params", "message"), [
    ("other_biz", {}, "template[id={pk}] of business[bk_biz_id=2] does not exist"),
    ("deleted", {}, "template[id={pk}] of business[bk_biz_id=2] does not exist"),
    ("common", {}, "template[id={pk}] of business[bk_biz_id=2] does not exist"),
    ("first", {"template_source": "common"}, "common template[id={pk}] does not exist"),
])
def test_info_not_found_messages(client, gate, templates, which, params, message):
    pk = templates[which].pk
    body = get(client, f"/apigw/get_template_info/{pk}/2/", gate, **params)
    assert body == {"result": False, "data": None, "code": CONTENT_NOT_EXIST, "message": message.format(pk=pk)}


def test_info_bad_template_id(client, gate, templates):
    body = get(client, "/apigw/get_template_info/abc/2/", gate)
    assert body["result"] is False and body["code"] == REQUEST_PARAM_INVALID


def test_viewer_may_read(client, gate, templates):
    body = get(client, "/apigw/get_template_list/2/", gate, access_token=gate.tokens["vera"])
    assert body["result"] is True


def test_list_query_count_is_constant(client, gate, templates, django_assert_max_num_queries):
    from templates_app.services import create_template
    from tests.support.gate import simple_tree

    for i in range(10):
        create_template(name=f"bulk {i}", pipeline_tree=simple_tree(f"z{i}"), creator="x", business=gate.biz,
                        validate=False)
    with django_assert_max_num_queries(8):
        body = get(client, "/apigw/get_template_list/2/", gate)
    assert len(body["data"]) == 12


def test_spec_examples_parse_and_match_our_keys():
    listing = example_response("get_template_list")
    info = example_response("get_template_info")
    if listing is None:
        pytest.skip("spec/apigw.md is not beside the repository")
    assert all(set(item) == LIST_ITEM_KEYS for item in listing["data"])
    assert set(info["data"]) == INFO_KEYS
    assert set(info["data"]["pipeline_tree"]) == TREE_KEYS
