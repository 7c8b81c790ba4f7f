"""The periodic-task endpoints against a live server, replaying the spec's example requests literally."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import requests

from tests.support.periodic_examples import (
    PAUSE,
    TIMER,
    assert_same_shape,
    spec_example_request,
    spec_example_response,
)

pytestmark = pytest.mark.django_db(transaction=True)

FORBIDDEN = 3540100
NOT_FOUND = 3540400
BAD_REQUEST = 3540000


def replay(live_server: Any, endpoint: str, ids: list[Any], /, **overrides: Any) -> dict[str, Any]:
    """Send the spec's example of `endpoint` as written (method, JSON-in-the-query style, kwargs),
    with the path's numeric ids replaced by `ids` in order and kwargs updated by `overrides`."""
    example = spec_example_request(endpoint)
    numbers = iter(ids)
    path = re.sub(r"/(\d+)(?=/)", lambda m: f"/{next(numbers)}", example.path)
    kwargs = {**example.kwargs, **overrides}
    response = getattr(requests, example.method)(f"{live_server.url}{path}", json.dumps(kwargs), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def call(live_server: Any, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
    response = requests.request(method, f"{live_server.url}/apigw/{path}", data=body, params=params, timeout=30)
    return response.json()


def create(live_server: Any, world: Any, /, **overrides: Any) -> dict[str, Any]:
    answer = replay(live_server, "create_periodic_task", [world.template.pk, 2], **overrides)
    assert answer["result"] is True, answer
    return answer["data"]


# --- the six endpoints, as the spec shows them ----------------------------------------------------------

def test_create_replays_the_spec_example(live_server: Any, pt_world: Any) -> None:
    data = create(live_server, pt_world)
    documented = spec_example_response("create_periodic_task")["data"]
    assert_same_shape(data, documented)
    assert data["cron"] == "*/1 15 * * * (m/h/d/dM/MY)"
    assert data["enabled"] is False  # API-created periodic tasks start disabled
    assert data["template_id"] == pt_world.template.pk  # a number, as the create example shows
    assert data["total_run_count"] == 0 and data["last_run_at"] == "" and data["creator"] == "admin"
    tree = data["pipeline_tree"]
    # The excluded pause node is gone, the flow reconnected, ids regenerated, constants merged and pruned.
    assert len(tree["activities"]) == 1
    (act,) = tree["activities"].values()
    assert act["component"]["code"] == "sleep_timer" and act["id"] != TIMER
    assert PAUSE not in json.dumps(tree)
    assert list(tree["constants"]) == ["${bk_timing}"]
    assert tree["constants"]["${bk_timing}"]["value"] == "100"
    assert list(tree["constants"]["${bk_timing}"]["source_info"]) == [act["id"]]
    assert data["form"] == tree["constants"]
    assert "line" in tree and "location" in tree


def test_list_and_info_replay_the_spec_examples(live_server: Any, pt_world: Any) -> None:
    first = create(live_server, pt_world, name="from api 1", exclude_task_nodes_id=[],
                   cron={"minute": "1,2,3-19/2", "hour": "2", "day_of_week": "3", "day_of_month": "4",
                         "month_of_year": "5"})
    second = create(live_server, pt_world)
    answer = replay(live_server, "get_periodic_task_list", [2])
    assert answer["result"] is True, answer
    documented = spec_example_response("get_periodic_task_list")["data"]
    assert [item["id"] for item in answer["data"]] == [second["id"], first["id"]]  # newest first
    for item in answer["data"]:
        assert_same_shape(item, documented[0])
        assert item["template_id"] == str(pt_world.template.pk)  # a string in the list
    assert answer["data"][1]["cron"] == "1,2,3-19/2 2 3 4 5 (m/h/d/dM/MY)"

    info = replay(live_server, "get_periodic_task_info", [first["id"], 2])
    assert info["result"] is True, info
    assert_same_shape(info["data"], spec_example_response("get_periodic_task_info")["data"])
    assert info["data"]["template_id"] == str(pt_world.template.pk)
    assert info["data"]["pipeline_tree"] == first["pipeline_tree"]  # the stored snapshot
    # Without exclusions the optional pause node stays.
    assert len(info["data"]["pipeline_tree"]["activities"]) == 2


def test_set_enabled_replays_the_spec_example(live_server: Any, pt_world: Any) -> None:
    from periodic_app.models import PeriodicTask

    task = create(live_server, pt_world)
    answer = replay(live_server, "set_periodic_task_enabled", [task["id"], 2], enabled=True)
    assert answer == {"result": True, "data": {"enabled": True}, "message": "success", "code": 0}
    row = PeriodicTask.objects.get(pk=task["id"])
    assert row.enabled and row.next_run_at is not None
    # The next fire is 15:00-15:59 Tokyo time, the cron's window.
    local = row.next_run_at.astimezone(pt_world.business.tzinfo)
    assert local.hour == 15 and row.next_run_at > dt.datetime.now(dt.UTC)

    answer = replay(live_server, "set_periodic_task_enabled", [task["id"], 2])  # the example: enabled False
    assert_same_shape(answer["data"], spec_example_response("set_periodic_task_enabled")["data"])
    assert answer["data"] == {"enabled": False}
    assert PeriodicTask.objects.get(pk=task["id"]).next_run_at is None

    replay(live_server, "set_periodic_task_enabled", [task["id"], 2], enabled=True)
    kwargs = dict(pt_world.creds())  # no `enabled` at all: false, as the original
    answer = call(live_server, "post", f"set_periodic_task_enabled/{task['id']}/2/", json.dumps(kwargs))
    assert answer["data"] == {"enabled": False}


def test_modify_cron_replays_the_spec_example_on_an_enabled_task(live_server: Any, pt_world: Any) -> None:
    from periodic_app.models import PeriodicTask

    task = create(live_server, pt_world, cron={"minute": "0", "hour": "3"})
    replay(live_server, "set_periodic_task_enabled", [task["id"], 2], enabled=True)
    before = PeriodicTask.objects.get(pk=task["id"]).next_run_at
    assert before.astimezone(pt_world.business.tzinfo).hour == 3
    answer = replay(live_server, "modify_cron_for_periodic_task", [task["id"], 2])
    assert answer["result"] is True, answer
    assert_same_shape(answer["data"], spec_example_response("modify_cron_for_periodic_task")["data"])
    assert answer["data"] == {"cron": "*/1 15 * * * (m/h/d/dM/MY)"}
    row = PeriodicTask.objects.get(pk=task["id"])
    assert row.enabled and row.next_run_at.astimezone(pt_world.business.tzinfo).hour == 15

    # The display string is accepted too, and a bad field is named.
    answer = replay(live_server, "modify_cron_for_periodic_task", [task["id"], 2], cron="0 9 mon-fri * *")
    assert answer["data"] == {"cron": "0 9 mon-fri * * (m/h/d/dM/MY)"}
    answer = replay(live_server, "modify_cron_for_periodic_task", [task["id"], 2], cron={"hour": "25"})
    assert answer["result"] is False and answer["code"] == BAD_REQUEST and "hour" in answer["message"]
    answer = replay(live_server, "modify_cron_for_periodic_task", [task["id"], 2], cron=None)
    assert answer["result"] is False and "cron is required" in answer["message"]


def test_modify_constants_replays_the_spec_example(live_server: Any, pt_world: Any) -> None:
    task = create(live_server, pt_world)
    replay(live_server, "set_periodic_task_enabled", [task["id"], 2], enabled=True)
    answer = replay(live_server, "modify_constants_for_periodic_task", [task["id"], 2],
                    constants={"${bk_timing}": "15", "${not_defined}": "ignored", "${unused}": "pruned"})
    assert answer["result"] is True, answer
    assert_same_shape(answer["data"], spec_example_response("modify_constants_for_periodic_task")["data"])
    assert list(answer["data"]) == ["${bk_timing}"]
    assert answer["data"]["${bk_timing}"]["value"] == "15"
    info = replay(live_server, "get_periodic_task_info", [task["id"], 2])
    assert info["data"]["form"]["${bk_timing}"]["value"] == "15"
    assert info["data"]["pipeline_tree"]["constants"]["${bk_timing}"]["value"] == "15"


def test_post_with_a_json_body_works_as_well(live_server: Any, pt_world: Any) -> None:
    body = {**pt_world.creds(), "name": "posted", "cron": {"minute": "5"}, "overlap_policy": "skip"}
    answer = call(live_server, "post", f"create_periodic_task/{pt_world.template.pk}/2/", json.dumps(body))
    assert answer["result"] is True, answer
    assert answer["data"]["cron"] == "5 * * * * (m/h/d/dM/MY)"
    from periodic_app.models import PeriodicTask

    assert PeriodicTask.objects.get(pk=answer["data"]["id"]).overlap_policy == "skip"


# --- errors ------------------------------------------------------------------------------------------

def test_missing_or_foreign_task_does_not_exist(live_server: Any, pt_world: Any) -> None:
    from access_app.models import Business

    other = Business.objects.create(bk_biz_id=3, name="other")
    from periodic_app.models import PeriodicTask

    foreign = PeriodicTask.objects.create(business=other, template=pt_world.template, name="x", creator="x",
                                          pipeline_tree={})
    for task_id in (999999, foreign.pk):
        for name in ("get_periodic_task_info", "set_periodic_task_enabled", "modify_cron_for_periodic_task",
                     "modify_constants_for_periodic_task"):
            answer = replay(live_server, name, [task_id, 2])
            assert answer["result"] is False and answer["code"] == NOT_FOUND, (name, answer)
            assert answer["message"] == f"task({task_id}) does not exist"


def test_create_errors(live_server: Any, pt_world: Any) -> None:
    answer = replay(live_server, "create_periodic_task", [999999, 2])
    assert answer["result"] is False and answer["message"] == "template(999999) does not exist"
    # The template lookup comes before the body is even read.
    url = f"{live_server.url}/apigw/create_periodic_task/999999/2/"
    creds = "app_code=app_code&app_secret=app_secret&access_token=access_token"
    answer = requests.post(f"{url}?{creds}", data="{not json", timeout=30).json()
    assert answer["message"] == "template(999999) does not exist"
    url = f"{live_server.url}/apigw/create_periodic_task/{pt_world.template.pk}/2/"
    answer = requests.post(f"{url}?{creds}", data="{not json", timeout=30).json()
    assert answer["result"] is False and answer["code"] == BAD_REQUEST and "json" in answer["message"]

    for overrides, fragment in [
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"cron": None}, "cron is required"),
        ({"cron": {"minute": "61"}}, "minute"),
        ({"cron": {"day_of_week": "funday"}}, "day_of_week"),
        ({"cron": {"month_of_year": "1-13"}}, "month_of_year"),
        ({"cron": {"minute": "3-19/0"}}, "minute"),
        ({"exclude_task_nodes_id": [TIMER]}, "is not optional"),
        ({"exclude_task_nodes_id": ["nope"]}, "is not in template pipeline tree"),
        ({"overlap_policy": "sometimes"}, "overlap_policy"),
    ]:
        answer = replay(live_server, "create_periodic_task", [pt_world.template.pk, 2], **overrides)
        assert answer["result"] is False and answer["code"] == BAD_REQUEST, (overrides, answer)
        assert fragment in answer["message"], (overrides, answer)
    from periodic_app.models import PeriodicTask

    assert PeriodicTask.objects.count() == 0


def test_wrong_method_is_405(live_server: Any, pt_world: Any) -> None:
    response = requests.put(f"{live_server.url}/apigw/create_periodic_task/{pt_world.template.pk}/2/",
                            json.dumps(pt_world.creds()), timeout=30)
    assert response.status_code == 405
    response = requests.post(f"{live_server.url}/apigw/get_periodic_task_list/2/",
                             json.dumps(pt_world.creds()), timeout=30)
    assert response.status_code == 405


# --- roles -------------------------------------------------------------------------------------------

def test_viewer_reads_but_cannot_change(live_server: Any, pt_world: Any) -> None:
    task = create(live_server, pt_world)
    viewer = {"access_token": "viewer_token"}
    answer = replay(live_server, "create_periodic_task", [pt_world.template.pk, 2], **viewer)
    assert answer["result"] is False and answer["code"] == FORBIDDEN, answer
    assert "maintainer" in answer["message"]
    for name in ("set_periodic_task_enabled", "modify_cron_for_periodic_task",
                 "modify_constants_for_periodic_task"):
        answer = replay(live_server, name, [task["id"], 2], **viewer)
        assert answer["result"] is False and answer["code"] == FORBIDDEN, (name, answer)
    assert replay(live_server, "get_periodic_task_list", [2], **viewer)["result"] is True
    assert replay(live_server, "get_periodic_task_info", [task["id"], 2], **viewer)["result"] is True
    history = call(live_server, "get", f"get_periodic_task_history/{task['id']}/2/",
                   params={**pt_world.creds(), **viewer})
    assert history["result"] is True


def test_outsider_and_bad_credentials_are_refused(live_server: Any, pt_world: Any) -> None:
    answer = replay(live_server, "get_periodic_task_list", [2], app_secret="wrong")
    assert answer["result"] is False and answer["code"] == FORBIDDEN
    from django.contrib.auth import get_user_model

    from tests.support.periodic_world import make_ticket

    make_ticket(get_user_model().objects.create_user(username="stranger"), "stranger_token")
    answer = replay(live_server, "get_periodic_task_list", [2], access_token="stranger_token")
    assert answer["result"] is False and answer["code"] == FORBIDDEN


# --- history -----------------------------------------------------------------------------------------

def test_history_newest_first_and_paginated(live_server: Any, pt_world: Any) -> None:
    from periodic_app.models import PeriodicTask, PeriodicTaskHistory

    task = create(live_server, pt_world)
    row = PeriodicTask.objects.get(pk=task["id"])
    base = dt.datetime(2025, 1, 1, 6, 0, tzinfo=dt.UTC)
    for i in range(5):
        scheduled = base + dt.timedelta(minutes=i)
        PeriodicTaskHistory.objects.create(
            periodic_task=row, scheduled_at=scheduled, fired_at=scheduled + dt.timedelta(seconds=1 if i else 3600),
            late=i == 0, success=i != 3, skipped=False, task_id=100 + i, reason="" if i != 3 else "boom")
    answer = call(live_server, "get", f"get_periodic_task_history/{task['id']}/2/",
                  params={**pt_world.creds(), "offset": 1, "limit": 2})
    assert answer["result"] is True, answer
    data = answer["data"]
    assert data["count"] == 5 and data["offset"] == 1 and data["limit"] == 2
    # Newest fire time first (the late 00 fired last but was scheduled first).
    assert [e["task_id"] for e in data["results"]] == [103, 102]
    entry = data["results"][0]
    assert set(entry) == {"id", "scheduled_time", "actual_time", "late", "missed_windows", "task_id", "success",
                          "skipped", "reason"}
    assert entry["scheduled_time"] == "2025-01-01 15:03:00 +0900" and entry["actual_time"] == "2025-01-01 15:03:01 +0900"
    assert entry["success"] is False and entry["reason"] == "boom"
    # The GET-with-JSON style works here too.
    response = requests.get(f"{live_server.url}/apigw/get_periodic_task_history/{task['id']}/2/",
                            json.dumps({**pt_world.creds(), "limit": 10}), timeout=30).json()
    assert [e["task_id"] for e in response["data"]["results"]] == [104, 103, 102, 101, 100]
    assert response["data"]["results"][-1]["late"] is True


def test_create_from_a_common_template(live_server: Any, pt_world: Any) -> None:
    from templates_app.models import Template, TemplateSource
    from tests.support.periodic_examples import example_tree

    common = Template.objects.create(source=TemplateSource.COMMON, business=None, name="common", creator="admin",
                                     pipeline_tree=example_tree())
    answer = replay(live_server, "create_periodic_task", [common.pk, 2], template_source="common")
    assert answer["result"] is True, answer
    assert answer["data"]["template_id"] == common.pk
    # Without template_source the id names no template of business 2.
    answer = replay(live_server, "create_periodic_task", [common.pk, 2])
    assert answer["result"] is False and answer["message"] == f"template({common.pk}) does not exist"


def test_plain_query_string_style(live_server: Any, pt_world: Any) -> None:
    """`requests.get(url, kwargs)`: nested values arrive as JSON text."""
    params = {**pt_world.creds(), "name": "query style", "cron": json.dumps({"minute": "0", "hour": "9"}),
              "constants": json.dumps({"${bk_timing}": "7"}), "exclude_task_nodes_id": json.dumps([PAUSE])}
    answer = call(live_server, "get", f"create_periodic_task/{pt_world.template.pk}/2/", params=params)
    assert answer["result"] is True, answer
    assert answer["data"]["cron"] == "0 9 * * * (m/h/d/dM/MY)"
    assert answer["data"]["form"]["${bk_timing}"]["value"] == "7"
    answer = call(live_server, "get", f"set_periodic_task_enabled/{answer['data']['id']}/2/",
                  params={**pt_world.creds(), "enabled": "true"})
    assert answer["data"] == {"enabled": True}
