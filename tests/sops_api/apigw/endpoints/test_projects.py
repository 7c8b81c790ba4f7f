"""get_user_project_list and get_user_project_detail: businesses seen as projects."""
from __future__ import annotations

import pytest

from sops_api.apigw.errors import CONTENT_NOT_EXIST, REQUEST_PARAM_INVALID
from tests.support.gate import assert_forbidden

pytestmark = pytest.mark.django_db


def get(client, url, gate, user="olivia", **params):
    response = client.get(url, {**gate.creds(user), **params})
    assert response.status_code == 200
    return response.json()


def test_list_is_the_callers_businesses(client, gate):
    body = get(client, "/apigw/get_user_project_list/", gate)
    assert body["result"] is True
    assert body["data"] == [{"project_id": gate.biz.pk, "bk_biz_id": 2, "name": "blueking"}]
    assert get(client, "/apigw/get_user_project_list/", gate, "otto")["data"] == []
    assert [p["bk_biz_id"] for p in get(client, "/apigw/get_user_project_list/", gate, "root")["data"]] == [2, 7]


def test_list_executor_proxy(client, gate):
    body = get(client, "/apigw/get_user_project_list/", gate, include_executor_proxy="yes")
    assert body["data"][0]["executor_proxy"] == "olivia"


def test_list_bad_input(client, gate):
    body = get(client, "/apigw/get_user_project_list/", gate, include_executor_proxy="sure")
    assert body["code"] == REQUEST_PARAM_INVALID and "include_executor_proxy" in body["message"]


def test_detail(client, gate):
    body = get(client, "/apigw/get_user_project_detail/2/", gate, include_executor_proxy="true",
               include_staff_groups="true")
    assert body["result"] is True
    assert body["data"] == {
        "project_id": gate.biz.pk, "project_name": "blueking", "from_cmdb": True, "bk_biz_id": 2,
        "bk_biz_name": "blueking", "bk_biz_maintainer": "max", "bk_biz_developer": "olivia", "bk_biz_tester": "vera",
        "bk_biz_productor": "", "time_zone": "Asia/Shanghai",
        "auth_actions": ["project_view", "project_fast_create_task"], "executor_proxy": "olivia", "staff_groups": [],
    }
    assert get(client, "/apigw/get_user_project_detail/2/", gate, "vera")["data"]["auth_actions"] == ["project_view"]
    assert len(get(client, "/apigw/get_user_project_detail/2/", gate, "max")["data"]["auth_actions"]) == 3


def test_detail_by_project_id(client, gate):
    body = get(client, f"/apigw/get_user_project_detail/{gate.biz.pk}/", gate, scope="project")
    assert body["data"]["bk_biz_id"] == 2


def test_detail_refusals(client, gate):
    assert_forbidden(get(client, "/apigw/get_user_project_detail/2/", gate, "otto"), "otto")
    assert_forbidden(get(client, "/apigw/get_user_project_detail/7/", gate), "bk_biz_id=7")
    assert get(client, "/apigw/get_user_project_detail/99/", gate)["code"] == CONTENT_NOT_EXIST


@pytest.mark.parametrize("params", [{"include_staff_groups": "2"}, {"scope": "everything"}])
def test_detail_bad_input(client, gate, params):
    assert get(client, "/apigw/get_user_project_detail/2/", gate, **params)["code"] == REQUEST_PARAM_INVALID
