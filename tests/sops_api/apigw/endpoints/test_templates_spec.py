"""A real HTTP server replaying the spec's template examples literally, with the demo's placeholder credentials."""
from __future__ import annotations

import io
import json

import pytest
import requests
from django.core.management import call_command

from tests.sops_api.apigw.endpoints.test_templates import (
    INFO_EXTRA_KEYS,
    INFO_KEYS,
    LIST_ITEM_KEYS,
    TREE_KEYS,
)
from tests.support.spec_examples import example_response


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo", "--spec-placeholders", stdout=io.StringIO(), stderr=io.StringIO())


def test_spec_get_template_list_example(live_server, demo):
    # spec/apigw.md, get_template_list, "HTTP 请求调用示例", with {stageVariables.domain} = the server
    kwargs = {
        "app_code": "app_code",
        "app_secret": "app_secret",
        "access_token": "access_token",
    }
    response = requests.get(f"{live_server.url}/apigw/get_template_list/2/", kwargs, timeout=30)
    result = response.json()
    assert response.status_code == 200 and result["result"] is True and result["code"] == 0
    assert {item["id"] for item in result["data"]} >= {1, 10}
    for item in result["data"]:
        assert set(item) == LIST_ITEM_KEYS
        assert item["bk_biz_id"] == "2" and item["bk_biz_name"] == "blueking"
        assert item["create_time"].endswith("+0800")
    spec = example_response("get_template_list")
    if spec is not None:
        assert set(result) >= set(spec)
        assert {type(v) for v in result["data"][0].values()} <= {int, str, type(None)}


def test_spec_get_template_info_example(live_server, demo):
    # spec/apigw.md, get_template_info: the example calls the list path with template 30, business 1.
    kwargs = {
        "app_code": "app_code",
        "app_secret": "app_secret",
        "access_token": "access_token",
    }
    response = requests.get(f"{live_server.url}/apigw/get_template_list/30/1/", kwargs, timeout=30)
    result = response.json()
    assert result["result"] is True, result
    data = result["data"]
    assert INFO_KEYS <= set(data) <= INFO_KEYS | INFO_EXTRA_KEYS
    assert set(data["pipeline_tree"]) == TREE_KEYS
    assert data["id"] == 30 and data["bk_biz_id"] == "1"
    spec = example_response("get_template_info")
    if spec is not None:
        # the demo's template 30 is the example's tree, node ids and constants included
        assert data["pipeline_tree"] == spec["data"]["pipeline_tree"]
        assert data["name"] == spec["data"]["name"] and data["category"] == spec["data"]["category"]


def test_get_template_info_the_documented_way(live_server, demo):
    kwargs = {"app_code": "app_code", "app_secret": "app_secret", "bk_token": "bk_token"}
    direct = requests.get(f"{live_server.url}/apigw/get_template_info/1/2/", kwargs, timeout=30).json()
    assert direct["result"] is True
    tree = direct["data"]["pipeline_tree"]
    assert "line" not in tree and "location" not in tree
    assert tree["constants"]["${bk_timing}"]["value"] == "2"


def test_json_query_string_style_over_http(live_server, demo):
    # requests.get(url, json.dumps(kwargs)), as the periodic-task examples send
    kwargs = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token",
              "template_source": "common"}
    result = requests.get(f"{live_server.url}/apigw/get_template_list/2/", json.dumps(kwargs), timeout=30).json()
    assert result["result"] is True and [t["id"] for t in result["data"]] == [100]


def test_health_and_docs_over_http(live_server, demo):
    assert requests.get(f"{live_server.url}/healthz", timeout=30).json()["status"] == "ok"
    assert requests.get(f"{live_server.url}/apigw/docs/", timeout=30).status_code == 200
    schema = requests.get(f"{live_server.url}/apigw/schema/?format=json", timeout=30).json()
    assert "/apigw/get_template_list/{bk_biz_id}/" in schema["paths"]
