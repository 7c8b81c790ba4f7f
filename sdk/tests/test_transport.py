"""How calls travel: URLs from endpoint + stage + path, GET parameters, timeouts, and retries of
idempotent calls only. Against a local server that misbehaves on purpose."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conftest import DROP
from sops_sdk import NO_RETRY, Client, RetryPolicy
from sops_sdk.retry import is_idempotent

OK = (200, {"result": True, "data": [], "message": "", "code": 0})
FAST_RETRY = RetryPolicy(retries=2, backoff=0.01, max_backoff=0.05)


def test_against_sops_the_stage_is_its_apigw_prefix(local_server):
    client = Client(local_server.url + "/")
    client.api.get_task_status({}, {"task_id": 10, "bk_biz_id": 2})
    client.api.operate_node({"node_id": "n", "action": "retry"}, {"bk_biz_id": 2, "task_id": 10})
    assert local_server.paths() == ["/apigw/get_task_status/10/2/", "/apigw/operate_node/2/10/"]
    assert client.base_url == local_server.url + "/apigw"


def test_behind_a_gateway_endpoint_and_stage_are_the_gateways(local_server):
    client = Client(local_server.url + "/api/bk-sops", stage="prod")
    client.api.get_template_list({}, {"bk_biz_id": 2})
    assert local_server.paths() == ["/api/bk-sops/prod/get_template_list/2/"]


def test_the_endpoint_may_come_from_bk_api_url_tmpl(local_server, monkeypatch):
    monkeypatch.setenv("BK_API_URL_TMPL", local_server.url + "/{api_name}")
    Client(stage="test").api.get_template_list({}, {"bk_biz_id": 2})
    assert local_server.paths() == ["/bk-sops/test/get_template_list/2/"]


def test_without_an_endpoint_the_client_says_so(monkeypatch):
    monkeypatch.delenv("BK_API_URL_TMPL", raising=False)
    with pytest.raises(ValueError, match="endpoint is required"):
        Client()


def test_a_missing_path_parameter_is_named(local_server):
    from bkapi_client_core.exceptions import PathParamsMissing

    with pytest.raises(PathParamsMissing, match="bk_biz_id"):
        Client(local_server.url).api.get_task_status({}, {"task_id": 1})
    assert local_server.seen == []


def test_get_parameters_carry_nested_values_and_booleans_as_json(local_server):
    Client(local_server.url).api.get_task_list(
        {"is_started": True, "limit": 5, "subprocess_stack": ["a", "b"], "conditions": {"x": 1}, "skip": None},
        {"bk_biz_id": 2})
    query = parse_qs(urlsplit(local_server.seen[0].path).query)
    assert query == {"is_started": ["true"], "limit": ["5"], "subprocess_stack": ['["a", "b"]'],
                     "conditions": ['{"x": 1}']}


def test_post_data_is_a_json_body(local_server):
    Client(local_server.url).api.create_task({"name": "n", "constants": {"${a}": 1}}, {"template_id": 1,
                                                                                        "bk_biz_id": 2})
    (request,) = local_server.seen
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"name": "n", "constants": {"${a}": 1}}


def test_a_slow_answer_times_out_and_is_not_sent_again(local_server):
    def slow(seen):
        time.sleep(1.5)
        return OK
    local_server.answer = slow
    client = Client(local_server.url, timeout=0.3, retry=FAST_RETRY)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        client.api.get_template_list({}, {"bk_biz_id": 2})
    assert time.monotonic() - started < 1.4
    # A read timeout is no connection error: the server may be working on it, so even a GET is not resent.
    assert len(local_server.seen) == 1


def drop_first(n: int):
    def answer(seen):
        return DROP if answer.calls < n else OK
    answer.calls = 0

    def counting(seen):
        result = answer(seen)
        answer.calls += 1
        return result
    return counting


def test_an_idempotent_call_is_sent_again_after_a_connection_error(local_server):
    local_server.answer = drop_first(2)
    result = Client(local_server.url, retry=FAST_RETRY).api.get_template_list({}, {"bk_biz_id": 2})
    assert result["result"] is True and len(local_server.seen) == 3


def test_a_read_only_post_is_retried_too(local_server):
    local_server.answer = drop_first(1)
    result = Client(local_server.url, retry=FAST_RETRY).api.query_task_count({"group_by": "status"},
                                                                             {"bk_biz_id": 2})
    assert result["result"] is True and len(local_server.seen) == 2


def test_retries_stop_after_the_policy_says(local_server):
    local_server.answer = lambda seen: DROP
    with pytest.raises(requests.ConnectionError):
        Client(local_server.url, retry=FAST_RETRY).api.get_task_status({}, {"task_id": 1, "bk_biz_id": 2})
    assert len(local_server.seen) == 3


@pytest.mark.parametrize("operation, path_params", [
    ("create_task", {"template_id": 1, "bk_biz_id": 2}),
    ("start_task", {"task_id": 1, "bk_biz_id": 2}),
    ("node_callback", {"task_id": 1, "bk_biz_id": 2}),
    ("create_periodic_task", {"template_id": 1, "bk_biz_id": 2}),
])
def test_a_write_is_never_sent_twice(local_server, operation, path_params):
    local_server.answer = drop_first(1)
    with pytest.raises(requests.ConnectionError):
        getattr(Client(local_server.url, retry=FAST_RETRY).api, operation)({}, path_params)
    assert len(local_server.seen) == 1


def test_no_retry_means_one_attempt(local_server):
    local_server.answer = lambda seen: DROP
    with pytest.raises(requests.ConnectionError):
        Client(local_server.url, retry=NO_RETRY).api.get_template_list({}, {"bk_biz_id": 2})
    assert len(local_server.seen) == 1


def test_a_refused_connection_is_a_connection_error(local_server):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        Client(f"http://127.0.0.1:{closed_port}", retry=FAST_RETRY).api.get_template_list({}, {"bk_biz_id": 2})
    assert time.monotonic() - started >= 0.01 + 0.02  # it waited the two backoffs


def test_which_operations_are_idempotent():
    api = Client("http://127.0.0.1:9").api
    reads = {"get_template_list", "get_template_info", "get_task_status", "get_task_detail",
             "get_task_node_detail", "get_task_list", "get_periodic_task_list", "get_periodic_task_info",
             "get_periodic_task_history", "query_task_count", "get_tasks_status", "preview_task_tree"}
    writes = {"create_task", "create_and_start_task", "start_task", "operate_task", "operate_node",
              "node_callback", "claim_functionalization_task", "create_periodic_task", "set_periodic_task_enabled",
              "modify_cron_for_periodic_task", "modify_constants_for_periodic_task"}
    assert all(is_idempotent(getattr(api, name)) for name in reads)
    assert not any(is_idempotent(getattr(api, name)) for name in writes)
