"""callback_url as the original delivers it, live (real worker, real receiver): the default form and the
v2 JSON body, sent when the task finishes, each time a node fails, and when it is revoked."""
from __future__ import annotations

import pytest

from tasks_app.models import CallbackStatus, TaskCallbackRecord
from tests.conftest import wait_for
from tests.support import task_trees as trees
from tests.support.live_http import Http, Receiver, child_state, node_id_of, ok, wait_status
from tests.support.task_world import make_template

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
FORM = "application/x-www-form-urlencoded"

pytestmark = pytest.mark.worker


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.close()


@pytest.fixture
def http(live_server, live_world, celery_worker_proc, open_loopback) -> Http:
    return Http(live_server.url, CREDS)


def delivered(task_id: int, count: int) -> list[TaskCallbackRecord]:
    return wait_for(lambda: (lambda rows: rows if len(rows) == count else None)(
        list(TaskCallbackRecord.objects.filter(task_id=task_id, status=CallbackStatus.SUCCESS).order_by("id"))),
        timeout=30, message=f"{count} delivered callback(s) of task {task_id}")


def test_v2_sends_json_with_the_outputs_when_the_task_finishes(http, receiver):
    task = ok(http.post("create_task/10/2/", {"name": "v2", "constants": {"${bk_timing}": "0"},
                                              "callback_url": receiver.base + "/hook", "callback_version": "v2"}))
    tid, pause = task["task_id"], node_id_of(task["pipeline_tree"], "pause_node")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, pause) == "RUNNING")
    ok(http.post(f"node_callback/{tid}/2/", {"node_id": pause, "callback_data": {"answer": 42}}))
    (record,) = delivered(tid, 1)
    (body,) = receiver.posts
    assert receiver.post_types == ["application/json"]
    assert body == {"task_id": tid, "task_success": True, "callback_version": "v2",
                    "task_outputs": body["task_outputs"]}
    assert {"answer": 42} in (body["task_outputs"].values() if isinstance(body["task_outputs"], dict)
                              else [o.get("value") for o in body["task_outputs"]])
    assert record.state == "FINISHED" and record.body_format == "json"


def test_the_default_form_is_sent_for_each_node_failure_and_for_the_revoke(http, receiver, live_world):
    make_template(620, "blocked then assign", trees.blocked_then_assign(), live_world.biz2)
    task = ok(http.post("create_task/620/2/", {"name": "fails", "callback_url": receiver.base + "/hook"}))
    tid, blocked = task["task_id"], node_id_of(task["pipeline_tree"], "bk_http_request")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, blocked) == "FAILED")
    first = delivered(tid, 1)
    assert receiver.posts == [{"task_id": str(tid), "task_success": "False"}] and receiver.post_types == [FORM]
    assert first[0].state == "FAILED" and first[0].node_id == blocked

    # a retry that fails again is a second failure: told again
    ok(http.post(f"operate_node/2/{tid}/", {"node_id": blocked, "action": "retry"}))
    delivered(tid, 2)
    ok(http.post(f"operate_task/{tid}/2/", {"action": "revoke"}))
    records = delivered(tid, 3)
    assert [r.state for r in records] == ["FAILED", "FAILED", "REVOKED"]
    assert receiver.posts == [{"task_id": str(tid), "task_success": "False"}] * 3
    assert receiver.post_types == [FORM] * 3
