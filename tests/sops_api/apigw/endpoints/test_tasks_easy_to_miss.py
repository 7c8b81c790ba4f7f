"""get_task_list and get_tasks_status against later-endpoints.md §9 ("details easy to miss"), through the live API:
the later filters, the original's item fields, and what the caller's role allows."""
from __future__ import annotations

import pytest

from tests.support.live_http import Http, ok

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
VIEWER = {**CREDS, "access_token": "viewer_token"}


@pytest.fixture
def http(live_server, live_world) -> Http:
    return Http(live_server.url, CREDS)


def create(http: Http, template_id: int = 10, **kwargs) -> int:
    return ok(http.post(f"create_task/{template_id}/2/", {"name": "easy", **kwargs}))["task_id"]


def test_task_list_later_filters_and_item_fields(http):
    a, b = create(http, 10), create(http, 11)
    answer = http.get("get_task_list/2/", {"template_ids": "10,11"})
    assert answer["count"] == 2 and [t["id"] for t in answer["data"]] == [b, a]
    assert http.get("get_task_list/2/", {"template_ids": "11"})["count"] == 1
    assert http.get("get_task_list/2/", {"is_child_taskflow": "true"})["count"] == 0
    assert http.get("get_task_list/2/", {"is_child_taskflow": "false"})["count"] == 2
    item = answer["data"][1]
    assert (item["project_id"], item["project_name"], item["is_child_taskflow"]) == (2, "blueking", False)
    assert item["category_name"] == "运维工具" and item["category"] == "OpsTools"
    assert item["auth_actions"] == ["task_view", "task_edit", "task_operate", "task_claim", "task_clone"]
    assert http.get("get_task_list/2/", creds=VIEWER)["data"][0]["auth_actions"] == ["task_view"]
    refused = http.get("get_task_list/2/", {"template_ids": "10,x"})
    assert refused["result"] is False and refused["code"] == 3540000 and "template_ids" in refused["message"]


def test_tasks_status_items_carry_the_originals_fields(http):
    tid = create(http)
    [item] = ok(http.post("get_tasks_status/2/", {"task_id_list": [tid]}))
    assert item["is_deleted"] is False and item["url"].endswith(f"instance_id={tid}")
    assert item["create_time"].endswith("+0800") and item["start_time"] == "" and item["finish_time"] == ""
    assert item["status"]["state"] == "CREATED" and item["status"]["children"] == {}
