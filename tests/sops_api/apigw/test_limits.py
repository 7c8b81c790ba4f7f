"""Malformed requests are refused with code 3540000 and a message naming the parameter and the limit.

Each case is one of the attempts the hardening issue lists (bodies too large or too deep, too many
fields, numbers out of range or written with non-ASCII digits, oversized lists, hostile cron fields),
sent through Django's test client to the real views on the real database.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sops_common import limits

from ..demo import BIZ, CREDS, TEMPLATE, bootstrap

BAD_REQUEST = 3540000
UNKNOWN_ERROR = 3599999
TOO_BIG = "99999999999999999999"  # 20 digits: past a 63-bit signed integer


@pytest.fixture
def api(db: None, settings: Any, tmp_path: Any) -> Client:
    bootstrap(settings, tmp_path)
    return Client()


def query(creds: dict[str, Any] | None = None, **params: Any) -> str:
    from urllib.parse import urlencode

    return urlencode({**CREDS, **(creds or {}), **params})


def refused(response: Any, *words: str) -> dict[str, Any]:
    """The answer is the envelope with result false and 3540000, and its message names each word."""
    assert response.status_code == 200, (response.status_code, response.content[:300])
    body = response.json()
    assert body["result"] is False and body["code"] == BAD_REQUEST, body
    for word in words:
        assert word in body["message"], (word, body["message"])
    return body


def post_raw(client: Client, path: str, body: bytes | str, content_type: str = "text/plain") -> Any:
    return client.generic("POST", f"{path}?{query()}", body, content_type=content_type)


# --- body size, JSON depth, form fields ----------------------------------------------------------

def test_body_larger_than_the_limit(api: Client) -> None:
    body = json.dumps({**CREDS, "name": "x" * (3 * 1024 * 1024)})
    response = post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", body)
    refused(response, "request body", str(limits.max_body_bytes()), "bytes")


def test_body_just_under_the_limit_is_read(api: Client, settings: Any) -> None:
    settings.SOPS_MAX_BODY_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps({"name": "n" * 3000, "template_source": "nonsense"})
    response = post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", body)
    # read and parsed: the answer is about the parameter, not the size
    refused(response, "template_source")
    body = json.dumps({"name": "n" * 5000})
    refused(post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", body), "larger than 4096 bytes")


def test_json_nested_too_deep(api: Client) -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"k": deep}
    body = json.dumps({"constants": {"${x}": deep}})
    response = post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", body)
    refused(response, "nested deeper than", str(limits.max_json_depth()))


def test_json_nested_far_too_deep_for_the_parser(api: Client) -> None:
    body = '{"constants": ' + "[" * 200_000 + "]" * 200_000 + "}"
    response = post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", body)
    refused(response, "nested deeper than")


def nested_constants(lists: int) -> str:
    """A body whose innermost list is at level 2 + lists (the body is 1, constants 2)."""
    value: Any = 1
    for _ in range(lists):
        value = [value]
    return json.dumps({"constants": {"${x}": value}, "name": "deep"})


def test_json_depth_at_the_limit_is_accepted(api: Client) -> None:
    path = f"/apigw/create_task/{TEMPLATE}/{BIZ}/"
    at_limit = post_raw(api, path, nested_constants(limits.max_json_depth() - 2)).json()
    assert at_limit["code"] != UNKNOWN_ERROR and "nested" not in at_limit["message"], at_limit
    refused(post_raw(api, path, nested_constants(limits.max_json_depth() - 1)),
            "parameter constants is nested deeper than 64 levels")


def test_json_query_string_too_deep(api: Client) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    doc = json.dumps({**CREDS, "keyword": deep})
    response = api.get(f"/apigw/get_task_list/{BIZ}/?{doc}")
    refused(response, "keyword", "nested deeper than")


def test_too_many_form_fields(api: Client) -> None:
    fields = "&".join(f"f{i}=1" for i in range(1500))
    response = post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", fields,
                        content_type="application/x-www-form-urlencoded")
    refused(response, "fields", str(limits.max_form_fields()))


def test_too_many_query_fields(api: Client) -> None:
    fields = "&".join(f"f{i}=1" for i in range(1500))
    response = api.get(f"/apigw/get_template_list/{BIZ}/?{query()}&{fields}")
    refused(response, "fields", str(limits.max_form_fields()))


@pytest.mark.parametrize("body", ['{"name": "a\\u0000b"}', '{"name": "\\ud800"}', '{"\\u0000": 1}',
                                  '{"name": NaN}', '{"name": Infinity}', b'{"name": "\xff\xfe"}'])
def test_json_values_no_database_can_store(api: Client, body: Any) -> None:
    response = post_raw(api, f"/apigw/create_task/{TEMPLATE}/{BIZ}/", body)
    refused(response)


def test_nul_in_a_query_parameter(api: Client) -> None:
    params = query(keyword="a\x00b")
    response = api.get(f"/apigw/get_task_list/{BIZ}/?{params}")
    refused(response, "keyword", "NUL")


# --- integers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"/apigw/get_template_info/{TOO_BIG}/{BIZ}/",
    f"/apigw/get_template_list/{TOO_BIG}/",
    f"/apigw/get_task_status/{TOO_BIG}/{BIZ}/",
    f"/apigw/get_task_detail/{TOO_BIG}/{BIZ}/",
    f"/apigw/get_periodic_task_info/{TOO_BIG}/{BIZ}/",
    f"/apigw/get_periodic_task_history/{TOO_BIG}/{BIZ}/",
    f"/apigw/get_task_list/{BIZ}/?template_id={TOO_BIG}",
])
def test_huge_ids_on_get(api: Client, path: str) -> None:
    sep = "&" if "?" in path else "?"
    refused(api.get(f"{path}{sep}{query()}"), str(limits.MAX_ID))


@pytest.mark.parametrize("path", [
    f"/apigw/create_task/{TOO_BIG}/{BIZ}/",
    f"/apigw/start_task/{TOO_BIG}/{BIZ}/",
    f"/apigw/create_periodic_task/{TOO_BIG}/{BIZ}/",
    f"/apigw/operate_node/{BIZ}/{TOO_BIG}/",
])
def test_huge_ids_on_post(api: Client, path: str) -> None:
    refused(post_raw(api, path, json.dumps({"name": "x", "cron": {}})), str(limits.MAX_ID))


@pytest.mark.parametrize("digits", ["٣", "²", "３", "1٣"])
def test_non_ascii_digits_in_ids(api: Client, digits: str) -> None:
    # int() reads these as numbers; an id is written with 0-9 only.
    for path in (f"/apigw/get_template_info/{digits}/{BIZ}/", f"/apigw/get_template_list/{digits}/",
                 f"/apigw/get_task_status/{digits}/{BIZ}/"):
        refused(api.get(f"{path}?{query()}"), "ASCII digits")


def test_the_real_ids_still_work(api: Client) -> None:
    body = api.get(f"/apigw/get_template_info/{TEMPLATE}/{BIZ}/?{query()}").json()
    assert body["result"] is True and body["data"]["id"] == TEMPLATE


@pytest.mark.parametrize("conditions", [
    {"id__in": [int(TOO_BIG)]},
    {"id__in": TOO_BIG},
    {"id": int(TOO_BIG)},
    {"id": "٣"},
    {"create_time": 10 ** 20},
    {"finish_time": 10 ** 20},
    {"create_time": -(10 ** 20)},
    {"create_time": "9" * 5000},
    {"start_time__gte": 10 ** 20},
    {"id__in": list(range(5000))},
])
def test_query_task_count_conditions(api: Client, conditions: dict[str, Any]) -> None:
    body = json.dumps({"group_by": "status", "conditions": conditions})
    refused(post_raw(api, f"/apigw/query_task_count/{BIZ}/", body), "conditions")


@pytest.mark.parametrize("value", [10**20, "100000000000000000000", -1])
def test_timestamp_condition_names_the_range(api: Client, value: Any) -> None:
    body = json.dumps({"group_by": "status", "conditions": {"create_time": value}})
    refused(post_raw(api, f"/apigw/query_task_count/{BIZ}/", body), "create_time", str(limits.MAX_TIMESTAMP_MS))


@pytest.mark.parametrize("value", [1_500_000_000_000, "1500000000000", limits.MAX_TIMESTAMP_MS])
def test_timestamps_in_range_still_count(api: Client, value: Any) -> None:
    body = json.dumps({"group_by": "status", "conditions": {"create_time": value}})
    answer = post_raw(api, f"/apigw/query_task_count/{BIZ}/", body).json()
    assert answer["result"] is True and isinstance(answer["data"]["total"], int), answer


def test_query_task_count_list_limit_names_the_limit(api: Client) -> None:
    body = json.dumps({"group_by": "status", "conditions": {"id__in": list(range(limits.max_list_items() + 1))}})
    refused(post_raw(api, f"/apigw/query_task_count/{BIZ}/", body), "id__in", str(limits.max_list_items()))


@pytest.mark.parametrize("offset", [TOO_BIG, str(limits.MAX_OFFSET + 1), "٣", "1.5", "-1"])
def test_offsets(api: Client, offset: str) -> None:
    refused(api.get(f"/apigw/get_task_list/{BIZ}/?{query(offset=offset)}"), "offset")


def test_offset_at_the_limit_is_an_empty_page(api: Client) -> None:
    body = api.get(f"/apigw/get_task_list/{BIZ}/?{query(offset=limits.MAX_OFFSET)}").json()
    assert body["result"] is True and body["data"] == []


def test_periodic_history_offset(api: Client) -> None:
    created = post_raw(api, f"/apigw/create_periodic_task/{TEMPLATE}/{BIZ}/",
                       json.dumps({"name": "p", "cron": {"minute": "5"}})).json()
    assert created["result"] is True, created
    task_id = created["data"]["id"]
    path = f"/apigw/get_periodic_task_history/{task_id}/{BIZ}/"
    refused(api.get(f"{path}?{query(offset=TOO_BIG)}"), "offset", str(limits.MAX_OFFSET))
    assert api.get(f"{path}?{query(offset=limits.MAX_OFFSET)}").json()["result"] is True


def test_task_id_list_items(api: Client) -> None:
    body = json.dumps({"task_id_list": [1, int(TOO_BIG)]})
    refused(post_raw(api, f"/apigw/get_tasks_status/{BIZ}/", body), "task_id_list")


# --- cron ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cron, words", [
    ({"minute": "²"}, ("minute", "ASCII")),
    ({"minute": "٣"}, ("minute", "ASCII")),
    ({"hour": "３"}, ("hour", "ASCII")),
    ({"minute": "9" * 5000}, ("minute", "64 characters")),
    ({"minute": "1," * 150}, ("minute", "64 characters")),
    ({"day_of_week": "mon\x00"}, ("cron", "NUL")),
])
def test_hostile_cron_fields(api: Client, cron: dict[str, str], words: tuple[str, ...]) -> None:
    body = json.dumps({"name": "p", "cron": cron})
    refused(post_raw(api, f"/apigw/create_periodic_task/{TEMPLATE}/{BIZ}/", body), *words)


def test_cron_at_the_limit_is_stored(api: Client) -> None:
    minute = ",".join(["1"] * 32)[: limits.MAX_CRON_FIELD_CHARS]
    assert len(minute) <= limits.MAX_CRON_FIELD_CHARS
    body = json.dumps({"name": "p", "cron": {"minute": minute}})
    answer = post_raw(api, f"/apigw/create_periodic_task/{TEMPLATE}/{BIZ}/", body).json()
    assert answer["result"] is True, answer
    assert answer["data"]["cron"].startswith(minute + " ")


# --- wrong types (found by the property test in test_views.py) -----------------------------------

@pytest.mark.parametrize("params, words", [
    ({"create_method": {"a": 1}}, ("create_method", "must be a string")),
    ({"keyword": {"a": 1}}, ("keyword", "must be a string")),
    ({"state": ["x"]}, ("state", "must be one of")),
    ({"create_time_start": [1]}, ("create_time_start", "must be a string")),
])
def test_task_list_text_filters_of_the_wrong_type(api: Client, params: dict[str, Any], words: tuple[str, ...]) -> None:
    doc = json.dumps({**CREDS, **params})
    refused(api.get(f"/apigw/get_task_list/{BIZ}/?{doc}"), *words)


def test_task_list_number_as_a_text_filter(api: Client) -> None:
    # A JSON query string's number where text is expected is refused as the document says (it used to crash).
    doc = json.dumps({**CREDS, "create_method": 10**20})
    refused(api.get(f"/apigw/get_task_list/{BIZ}/?{doc}"), "create_method", "must be a string")


@pytest.mark.parametrize("path", [f"/apigw/preview_task_tree/{BIZ}/{TEMPLATE}/", f"/apigw/create_task/{TEMPLATE}/{BIZ}/",
                                  f"/apigw/create_periodic_task/{TEMPLATE}/{BIZ}/"])
def test_excluded_node_ids_must_be_strings(api: Client, path: str) -> None:
    body = {"name": "x", "cron": {"minute": "1"}, "exclude_task_nodes_id": [[["nested"]], {"k": 1}]}
    refused(post_raw(api, path, json.dumps(body)), "exclude_task_nodes_id", "must be a list of node ids")
