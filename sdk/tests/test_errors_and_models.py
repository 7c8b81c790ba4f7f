"""result false becomes an exception with code and message; answers become dataclasses with parsed times."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sops_sdk import (
    InvalidOperationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    SopsError,
    UnexpectedResponseError,
)
from sops_sdk.errors import unwrap
from sops_sdk.models import TaskCount, TaskStatus, parse_time


@pytest.mark.parametrize("code, error_class", [
    (3540000, InvalidParameterError), (3540100, PermissionDeniedError), (3540400, NotFoundError),
    (3545000, InvalidOperationError), (3599999, ServerError), (1234567, SopsError),
])
def test_result_false_raises_with_code_and_message(code, error_class):
    with pytest.raises(error_class) as raised:
        unwrap({"result": False, "data": None, "code": code, "message": "why"}, "start_task")
    assert raised.value.code == code and raised.value.message == "why"
    assert str(raised.value) == f"start_task: [{code}] why"


def test_result_true_gives_the_data():
    assert unwrap({"result": True, "data": {"a": 1}, "code": 0, "message": ""}) == {"a": 1}


@pytest.mark.parametrize("answer", [None, [], {"data": 1}, {"result": "true"}])
def test_something_else_than_an_envelope_is_named(answer):
    with pytest.raises(UnexpectedResponseError):
        unwrap(answer)


def test_times_parse_with_their_zone():
    assert parse_time("2018-04-26 16:08:34 +0800") == datetime(2018, 4, 26, 16, 8, 34,
                                                               tzinfo=timezone(timedelta(hours=8)))
    assert parse_time("2019-01-17 04:13:08") == datetime(2019, 1, 17, 4, 13, 8)
    assert parse_time("") is None and parse_time(None) is None
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_a_status_tree_from_the_specs_example():
    # spec/apigw.md, get_task_status, 返回结果示例 (abridged)
    status = TaskStatus.from_data({
        "retry": 0, "finish_time": "", "skip": False, "start_time": "2018-04-26 16:08:34 +0800",
        "children": {"e8b128dff46637368b9b1bd921abc14e": {
            "retry": 0, "finish_time": "2018-04-26 16:08:46 +0800", "skip": False, "children": {},
            "start_time": "2018-04-26 16:08:34 +0800", "state": "FAILED", "id": "e8b128dff46637368b9b1bd921abc14e",
            "version": "914d35fe7d143c2186e6d3532870b37d", "loop": 1}},
        "state": "FAILED", "version": "", "id": "5a1622f9f43e3429acb604e18dbd100a", "loop": 1})
    assert status.state == "FAILED" and status.is_stopped and status.finish_time is None
    node = status.find("e8b128dff46637368b9b1bd921abc14e")
    assert node.finish_time.hour == 16 and node.version == "914d35fe7d143c2186e6d3532870b37d"
    assert status.find("missing") is None
    assert not TaskStatus.from_data({"id": "x", "state": "RUNNING"}).is_stopped


def test_counts_by_code():
    count = TaskCount.from_data({"total": 180, "groups": [{"code": "common", "name": "默认任务流程", "value": 166},
                                                          {"code": "common_func", "name": "职能化任务流程",
                                                           "value": 14}]})
    assert count.total == 180 and count.by_code() == {"common": 166, "common_func": 14}
