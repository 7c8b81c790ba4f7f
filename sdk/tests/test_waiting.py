"""wait_for_task: polls with a growing interval until the task stops, or gives up with the last status."""
from __future__ import annotations

import pytest

from sops_sdk import Client, WaitTimeout
from sops_sdk.waiting import backoff_intervals


def status_answer(state: str) -> tuple[int, dict]:
    return 200, {"result": True, "code": 0, "message": "",
                 "data": {"id": "r", "state": state, "children": {}, "start_time": "2026-01-01 10:00:00 +0800",
                          "finish_time": ""}}


def test_backoff_grows_by_the_factor_up_to_the_cap():
    intervals = backoff_intervals(0.2, 2.0, 1.0)
    assert [next(intervals) for _ in range(6)] == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        next(backoff_intervals(0, 2.0, 1.0))


def test_it_polls_with_backoff_until_a_stop_state(local_server):
    states = iter(["CREATED", "RUNNING", "RUNNING", "RUNNING", "FINISHED"])
    local_server.answer = lambda seen: status_answer(next(states))
    status = Client(local_server.url).wait_for_task(7, 2, timeout=10, first_interval=0.05, factor=2.0,
                                                    longest_interval=0.3)
    assert status.state == "FINISHED"
    assert local_server.paths() == ["/apigw/get_task_status/7/2/"] * 5
    gaps = [b.at - a.at for a, b in zip(local_server.seen, local_server.seen[1:], strict=False)]
    # at least the planned interval each time (sleep never wakes early): 0.05, 0.1, 0.2, 0.3
    assert all(gap >= planned - 0.005 for gap, planned in zip(gaps, [0.05, 0.1, 0.2, 0.3], strict=True))


@pytest.mark.parametrize("state", ["FAILED", "REVOKED"])
def test_failed_and_revoked_stop_the_wait_too(local_server, state):
    local_server.answer = lambda seen: status_answer(state)
    assert Client(local_server.url).wait_for_task(1, 2, timeout=5).state == state


def test_it_gives_up_with_the_last_status(local_server):
    local_server.answer = lambda seen: status_answer("RUNNING")
    with pytest.raises(WaitTimeout) as waited:
        Client(local_server.url).wait_for_task(1, 2, timeout=0.5, first_interval=0.1)
    assert isinstance(waited.value, TimeoutError) and waited.value.last_status.state == "RUNNING"
    assert 3 <= len(local_server.seen) <= 6


def test_an_error_answer_ends_the_wait_with_the_error(local_server):
    from sops_sdk import NotFoundError

    local_server.answer = lambda seen: (200, {"result": False, "data": None, "code": 3540400,
                                              "message": "task[id=1] of business[bk_biz_id=2] does not exist"})
    with pytest.raises(NotFoundError):
        Client(local_server.url).wait_for_task(1, 2, timeout=5)
    assert len(local_server.seen) == 1
