"""create_task's later parameters through the HTTP API: execute_task_nodes_id (mandatory nodes refused, never
dropped), template_schemes_id, simplify_vars, callback_version; roles, other businesses, bad input."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tasks_app.models import TaskInstance
from templates_app.schemes import create_scheme

pytestmark = pytest.mark.django_db

BAD_REQUEST, FORBIDDEN, NOT_FOUND = 3540000, 3540100, 3540400


def call(client, path: str, body: dict | None = None, token: str = "access_token") -> dict[str, Any]:
    creds = {"app_code": "app_code", "app_secret": "app_secret", "access_token": token}
    response = client.post(f"/apigw/{path}", json.dumps({**creds, **(body or {})}), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def created(answer: dict) -> dict:
    assert answer["result"] is True, answer
    return answer["data"]


def names(data: dict) -> set[str]:
    return {a["name"] for a in data["pipeline_tree"]["activities"].values()}


def refused(answer: dict, code: int = BAD_REQUEST) -> str:
    assert answer["result"] is False and answer["code"] == code, answer
    assert answer["data"] is None
    return answer["message"]


# --- execute_task_nodes_id ------------------------------------------------------------------------------

def test_execute_runs_the_listed_nodes_and_leaves_out_the_other_optional_ones(client, world):
    data = created(call(client, "create_task/11/2/", {"name": "x",
                                                      "execute_task_nodes_id": ["first", "opt_b", "keep_b", "nope"]}))
    assert names(data) == {"first", "opt_b", "keep_b"}  # unknown ids are ignored, as in the original
    assert "${t_a}" not in data["pipeline_tree"]["constants"]


def test_execute_leaving_out_mandatory_nodes_is_refused_naming_them(client, world):
    message = refused(call(client, "create_task/11/2/", {"name": "x", "execute_task_nodes_id": ["opt_a"]}))
    assert message.startswith("execute_task_nodes_id leaves out mandatory (non-optional) nodes: first, keep_b;")
    assert TaskInstance.objects.count() == 0


def test_execute_wins_over_exclude(client, world):
    data = created(call(client, "create_task/11/2/", {
        "name": "x", "exclude_task_nodes_id": ["opt_b"],
        "execute_task_nodes_id": ["first", "opt_a", "opt_b", "keep_b", "last"]}))
    assert names(data) == {"first", "opt_a", "opt_b", "keep_b", "last"}


@pytest.mark.parametrize("value", ["first", [1], {"a": 1}, [""]])
def test_execute_must_be_a_list_of_node_ids(client, world, value):
    message = refused(call(client, "create_task/11/2/", {"name": "x", "execute_task_nodes_id": value}))
    assert "execute_task_nodes_id" in message


# --- template_schemes_id --------------------------------------------------------------------------------

@pytest.fixture
def schemes(world):
    template = world.templates[11]
    return (create_scheme(template=template, name="a only", data=["opt_a"]),
            create_scheme(template=template, name="b and last", data=json.dumps(["opt_b", "last"])))


@pytest.mark.parametrize("pick", [
    lambda a, b: a.unique_id, lambda a, b: a.pk, lambda a, b: str(a.pk), lambda a, b: [a.unique_id]])
def test_one_scheme_by_unique_id_or_pk(client, world, schemes, pick):
    data = created(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": pick(*schemes)}))
    assert names(data) == {"first", "opt_a", "keep_b"}  # optional nodes outside the scheme left out


def test_schemes_union_and_mandatory_nodes_stay(client, world, schemes):
    a, b = schemes
    data = created(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": [a.pk, b.unique_id]}))
    assert names(data) == {"first", "opt_a", "opt_b", "keep_b", "last"}


@pytest.mark.parametrize(("value", "expected"), [
    ([999], "unknown template_schemes_id: 999"),
    (["11-nope", 998], "unknown template_schemes_id: 11-nope, 998"),
    ([""], "invalid template_schemes_id: all items must be non-empty strings or positive integers"),
    ([0], "invalid template_schemes_id: all items must be non-empty strings or positive integers"),
    ([True], "invalid template_schemes_id: all items must be non-empty strings or positive integers"),
])
def test_bad_scheme_ids(client, world, schemes, value, expected):
    assert refused(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": value})) == expected


def test_duplicate_scheme_ids_count_digits_and_numbers_alike(client, world, schemes):
    a, _ = schemes
    message = refused(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": [a.pk, str(a.pk)]}))
    assert message == f"duplicate template_schemes_id: {a.pk}"


def test_schemes_go_with_no_other_selection(client, world, schemes):
    a, _ = schemes
    for other in ({"exclude_task_nodes_id": ["opt_b"]}, {"execute_task_nodes_id": ["first", "keep_b"]}):
        message = refused(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": [a.pk], **other}))
        assert message == "template_schemes_id can not be used with exclude_task_nodes_id or execute_task_nodes_id"


def test_a_scheme_of_another_template_is_unknown(client, world, schemes):
    other = create_scheme(template=world.templates[10], name="timer", data=["timer"])
    message = refused(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": [other.pk]}))
    assert message == f"unknown template_schemes_id: {other.pk}"


# --- simplify_vars, callback_version --------------------------------------------------------------------

def test_simplify_vars_turns_custom_variables_into_text(client, world):
    data = created(call(client, "create_task/11/2/", {"name": "x", "simplify_vars": ["${t_first}", "${nope}"],
                                                      "constants": {"${t_first}": "3"}}))
    const = data["pipeline_tree"]["constants"]["${t_first}"]
    assert (const["custom_type"], const["source_tag"], const["is_meta"], const["value"]) == \
        ("textarea", "textarea.textarea", False, "3")
    assert data["pipeline_tree"]["constants"]["${t_a}"]["custom_type"] == "input"  # not listed: unchanged


def test_simplify_vars_skips_variables_that_are_not_custom(client, world):
    data = created(call(client, "create_task/10/2/", {"name": "x", "simplify_vars": ["${bk_timing}"]}))
    assert data["pipeline_tree"]["constants"]["${bk_timing}"]["source_type"] == "component_inputs"
    assert data["pipeline_tree"]["constants"]["${bk_timing}"]["custom_type"] == ""


def test_callback_version_is_stored_and_checked(client, world, settings):
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]
    data = created(call(client, "create_task/10/2/", {"name": "x", "callback_url": "http://127.0.0.1:9/hook",
                                                      "callback_version": "v2"}))
    assert TaskInstance.objects.get(pk=data["task_id"]).callback_version == "v2"
    message = refused(call(client, "create_task/10/2/", {"name": "x", "callback_url": "http://127.0.0.1:9/hook",
                                                         "callback_version": "v3"}))
    assert message == 'callback_version must be "v2" or absent'


@pytest.mark.parametrize("value", [["${a}"], "x"])
def test_simplify_vars_must_be_a_list_of_keys(client, world, value):
    answer = call(client, "create_task/11/2/", {"name": "x", "simplify_vars": value if value == "x" else [1]})
    assert "simplify_vars" in refused(answer)


# --- access ---------------------------------------------------------------------------------------------

def test_a_viewer_cannot_create_with_the_new_parameters(client, world, schemes):
    a, _ = schemes
    refused(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": [a.pk]}, token="viewer_token"),
            FORBIDDEN)
    assert TaskInstance.objects.count() == 0


def test_another_business_cannot_reach_the_template_or_its_schemes(client, world, schemes):
    a, _ = schemes
    # olga operates business 1 only: business 2 refuses her, and business 1 has no template 11
    refused(call(client, "create_task/11/2/", {"name": "x", "template_schemes_id": [a.pk]}, token="olga_token"),
            FORBIDDEN)
    assert refused(call(client, "create_task/11/1/", {"name": "x", "template_schemes_id": [a.pk]},
                        token="olga_token"), NOT_FOUND) == "template[id=11] of business[bk_biz_id=1] does not exist"
    # a scheme of business 2's template named from business 1's template 30
    assert refused(call(client, "create_task/30/1/", {"name": "x", "template_schemes_id": [a.pk]},
                        token="olga_token")) == f"unknown template_schemes_id: {a.pk}"


def test_create_and_start_takes_the_same_selection(client, world, schemes):
    a, _ = schemes
    data = created(call(client, "create_and_start_task/11/2/", {"name": "x", "template_schemes_id": a.unique_id}))
    assert names(data) == {"first", "opt_a", "keep_b"} and TaskInstance.objects.get(pk=data["task_id"]).is_started
    message = refused(call(client, "create_and_start_task/11/2/", {"name": "x", "execute_task_nodes_id": ["last"]}))
    assert message.startswith("execute_task_nodes_id leaves out mandatory (non-optional) nodes: first, keep_b;")
