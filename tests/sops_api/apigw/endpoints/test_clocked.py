"""create_clocked_task and get_clocked_task_list through the HTTP API: answers, the pinned business and
template, roles, other businesses, bad input."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from clocked_app.models import ClockedTask

pytestmark = pytest.mark.django_db

CREDS = {"app_code": "app_code", "app_secret": "app_secret"}
COMPACT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}$")
SPACED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$")


def create(client, body: dict, template: int = 10, biz: int = 2, token: str = "access_token") -> dict:
    response = client.post(f"/apigw/create_clocked_task/{template}/{biz}/",
                           json.dumps({**CREDS, "access_token": token, **body}), content_type="application/json")
    assert response.status_code == 200
    return response.json()


def listing(client, biz: int = 2, token: str = "access_token", **params) -> dict:
    response = client.get(f"/apigw/get_clocked_task_list/{biz}/", {**CREDS, "access_token": token, **params})
    assert response.status_code == 200
    return response.json()


def refused(answer: dict, code: int = 3540000) -> str:
    assert answer["result"] is False and answer["code"] == code and answer["data"] is None, answer
    return answer["message"]


def later(hours: float = 1) -> str:
    return (timezone.now() + dt.timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S+0000")


def test_create_answers_the_plan(client, world):
    answer = create(client, {"task_name": "nightly", "plan_start_time": "2099-05-16 20:26:40+0800",
                             "task_parameters": {"constants": {"${bk_timing}": "2"}}})
    assert answer["result"] is True, answer
    data = answer["data"]
    plan = ClockedTask.objects.get(pk=data["id"])
    assert {k: data[k] for k in ("project_id", "task_id", "task_name", "template_id", "template_name",
                                 "template_source", "creator", "editor", "state")} == {
        "project_id": 2, "task_id": None, "task_name": "nightly", "template_id": 10,
        "template_name": "timer then pause", "template_source": "project", "creator": "alice", "editor": "",
        "state": "not_started"}
    assert data["task_parameters"] == {"constants": {"${bk_timing}": "2"}, "template_schemes_id": []}
    # business 2's zone is Asia/Shanghai: the time is shown there, without a space before the offset
    assert data["plan_start_time"] == "2099-05-16 20:26:40+0800"
    assert plan.plan_start_time == dt.datetime(2099, 5, 16, 12, 26, 40, tzinfo=dt.UTC)
    assert COMPACT.match(data["create_time"]) and COMPACT.match(data["edit_time"])
    assert "clocked_task_id" not in data


def test_naive_and_iso_times(client, world):
    naive = create(client, {"task_name": "a", "plan_start_time": "2099-01-01 08:00:00"})["data"]
    assert naive["plan_start_time"] == "2099-01-01 08:00:00+0800"  # naive: the business's zone
    iso = create(client, {"task_name": "b", "plan_start_time": "2099-01-01T00:00:00Z"})["data"]
    assert iso["plan_start_time"] == "2099-01-01 08:00:00+0800"


def test_the_body_cannot_move_the_plan_to_another_business_or_template(client, world):
    body = {"task_name": "x", "plan_start_time": later(), "project_id": 1, "template_id": 30,
            "template_name": "evil", "template_source": "common", "bk_biz_id": 1}
    data = create(client, body)["data"]
    plan = ClockedTask.objects.get(pk=data["id"])
    assert (plan.business.bk_biz_id, plan.template_id, plan.template_name) == (2, 10, "timer then pause")
    assert (data["project_id"], data["template_id"], data["template_source"]) == (2, 10, "project")
    # inside task_parameters only the task's own keys are taken
    message = refused(create(client, {"task_name": "x", "plan_start_time": later(),
                                      "task_parameters": {"project_id": 1, "template_id": 30}}))
    assert message.startswith("task_parameters: unknown key(s) project_id, template_id;")


@pytest.mark.parametrize(("params", "expected"), [
    ({"exclude_task_nodes_id": ["opt_a"], "appoint_task_nodes_id": ["first"]},
     "task_parameters: can not use multiple method to appoint execute nodes (exclude_task_nodes_id, "
     "appoint_task_nodes_id): give one"),
    ({"constants": {"${t_a}": "${t_a}"}}, "task_parameters.constants: the value of constant ${t_a} refers to itself"),
    ({"constants": {"${t_a}": "${t_b}1", "${t_b}": "x${t_first}", "${t_first}": "${t_a}"}},
     "task_parameters.constants: constants ${t_a}, ${t_b}, ${t_first} refer to each other in a cycle"),
    ({"template_schemes_id": ["11-a"]},
     "task_parameters.template_schemes_id must be a list of scheme ids (positive integers)"),
    ({"template_schemes_id": [12345]}, "unknown template_schemes_id: 12345"),
    ({"exclude_task_nodes_id": ["first"]}, "task node[id=first] is not optional"),
    ({"constants": []}, "task_parameters.constants must be an object"),
])
def test_bad_task_parameters(client, world, params, expected):
    assert refused(create(client, {"task_name": "x", "plan_start_time": later(), "task_parameters": params},
                          template=11)) == expected
    assert not ClockedTask.objects.exists()


def test_appointed_nodes_keep_the_mandatory_ones(client, world):
    data = create(client, {"task_name": "x", "plan_start_time": later(),
                           "task_parameters": {"appoint_task_nodes_id": ["opt_a"]}}, template=11)
    assert data["result"] is True and data["data"]["task_parameters"]["appoint_task_nodes_id"] == ["opt_a"]


@pytest.mark.parametrize(("body", "expected"), [
    ({"plan_start_time": "2099-01-01 00:00:00"}, "task_name must be a string of 1 to 128 characters"),
    ({"task_name": "x" * 129, "plan_start_time": "2099-01-01 00:00:00"},
     "task_name must be a string of 1 to 128 characters"),
    ({"task_name": "x"}, "plan_start_time is required: a time such as 2026-05-16 20:26:40 +0800"),
    ({"task_name": "x", "plan_start_time": "2001-01-01 00:00:00"},
     "plan_start_time is invalid: Plan start time should be later than the time to create the plan"),
    ({"task_name": "x", "plan_start_time": "tomorrow"}, None),
    ({"task_name": "x", "plan_start_time": "2099-01-01 00:00:00", "task_parameters": [1]},
     "task_parameters must be an object"),
])
def test_bad_input(client, world, body, expected):
    message = refused(create(client, body))
    assert message == expected if expected else message.startswith("plan_start_time is invalid: ")


def test_roles_and_other_businesses(client, world):
    body = {"task_name": "x", "plan_start_time": later()}
    refused(create(client, body, token="viewer_token"), 3540100)
    refused(create(client, body, token="olga_token"), 3540100)
    # a template of another business, from a business the caller operates
    assert refused(create(client, body, template=30, biz=2), 3540400) == \
        "template[id=30] of business[bk_biz_id=2] does not exist"
    assert refused(create(client, body, template=40, biz=2), 3540400)  # common templates are not planned
    assert not ClockedTask.objects.exists()


def test_the_list(client, world):
    ids = [create(client, {"task_name": name, "plan_start_time": later()})["data"]["id"]
           for name in ("Nightly A", "nightly b", "weekly")]
    create(client, {"task_name": "other business", "plan_start_time": later()}, template=30, biz=1)
    ClockedTask.objects.filter(pk=ids[2]).update(state="start_failed")
    answer = listing(client)
    assert answer["result"] is True and answer["count"] == 3
    assert [i["id"] for i in answer["data"]] == ids[::-1]
    item = answer["data"][0]
    assert item["clocked_task_id"] == item["id"] and SPACED.match(item["plan_start_time"])
    assert item["auth_actions"] == ["clocked_task_view", "clocked_task_edit", "clocked_task_delete", "flow_view"]
    assert [i["task_name"] for i in listing(client, task_name="NIGHTLY")["data"]] == ["nightly b", "Nightly A"]
    assert [i["id"] for i in listing(client, state="start_failed")["data"]] == [ids[2]]
    assert [i["id"] for i in listing(client, id=ids[0])["data"]] == [ids[0]]
    paged = listing(client, offset=1, limit=1)
    assert paged["count"] == 3 and [i["id"] for i in paged["data"]] == [ids[1]]
    utc = listing(client, expected_timezone="UTC")["data"][0]
    assert utc["plan_start_time"].endswith(" +0000")
    viewer = listing(client, token="viewer_token")
    assert viewer["data"][0]["auth_actions"] == ["clocked_task_view", "flow_view"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"id": "x"}, "id must be a number"),
    ({"state": "done"}, "state must be one of: not_started, started, start_failed"),
    ({"limit": "500"}, "limit"), ({"offset": "-1"}, "offset"),
    ({"expected_timezone": "Mars/Base"}, "expected_timezone Mars/Base is unknown."),
])
def test_list_bad_input(client, world, params, expected):
    assert expected in refused(listing(client, **params))


def test_list_access(client, world):
    create(client, {"task_name": "x", "plan_start_time": later()})
    refused(listing(client, token="olga_token"), 3540100)  # not a member of business 2
    assert listing(client, biz=1, token="olga_token")["data"] == []  # business 1 sees only its own
