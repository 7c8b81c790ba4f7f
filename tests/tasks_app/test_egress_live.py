"""The egress policy end to end: through the live API with a real worker.

By default (SOPS_HTTP_ALLOWLIST empty) a bk_http_request node to the service's own machine
fails with the rule in its message and the local server receives nothing, and a callback_url
to loopback is refused at create. With the loopback addresses opened for the test
(`open_loopback`: this process and a worker of its own) both reach the local receiver.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks_app.models import CallbackStatus, TaskCallbackRecord, TaskInstance
from tests.conftest import wait_for
from tests.support import task_trees as trees
from tests.support.live_http import Http, Receiver, ok, wait_status

pytestmark = [pytest.mark.worker]

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
NOT_OPEN = "which SOPS_HTTP_ALLOWLIST does not open"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def one_request_template(world, pk: int) -> None:
    from templates_app.services import create_template

    b = trees.TreeBuilder()
    b.act(trees.http_get("get", trees.var("url"), name="get"))
    b.chain("start", "get", "end")
    b.const("url", "")
    create_template(name="one request", pipeline_tree=b.build(), creator="alice", business=world.biz2, pk=pk)


def run_request(http: Http, template_id: int, url: str, **create: object) -> tuple[int, str, dict]:
    task = ok(http.post(f"create_task/{template_id}/2/", {"name": "egress", "constants": {"${url}": url},
                                                          **create}))
    tid = task["task_id"]
    node = trees_node(task["pipeline_tree"])
    ok(http.post(f"start_task/{tid}/2/"))
    status = wait_status(http, tid, lambda d: d["state"] in ("FAILED", "FINISHED"))
    return tid, node, status


def trees_node(tree: dict) -> str:
    return next(i for i, a in tree["activities"].items() if a["name"] == "get")


def node_detail(http: Http, tid: int, node: str) -> dict:
    return ok(http.get(f"get_task_node_detail/{tid}/2/", {"node_id": node}))


@pytest.mark.parametrize("host, message", [
    ("localhost", "url host[localhost] resolves to 127.0.0.1, a loopback address, " + NOT_OPEN),
    ("127.1", "url host[127.1] is 127.0.0.1, a loopback address, " + NOT_OPEN),
    ("[::ffff:127.0.0.1]", "url host[::ffff:127.0.0.1] is ::ffff:7f00:1, an IPv4-mapped form of 127.0.0.1 "
                           "(a loopback address), " + NOT_OPEN),
])
def test_a_request_node_to_the_own_machine_fails_with_the_rule(live_server, live_world, celery_worker_proc,
                                                               receiver, host, message):
    http = Http(live_server.url, CREDS)
    one_request_template(live_world, 601)
    port = receiver.base.rsplit(":", 1)[1]
    tid, node, status = run_request(http, 601, f"http://{host}:{port}/admin/login/")
    assert status["state"] == "FAILED"
    detail = node_detail(http, tid, node)
    assert detail["state"] == "FAILED"
    assert detail["ex_data"] == f"HTTP request refused: {message}."
    assert {o["key"]: o["value"] for o in detail["outputs"]}.get("body") in (None, "")
    assert receiver.gets == [] and receiver.posts == []


@pytest.mark.parametrize("endpoint", ["create_task", "create_and_start_task"])
def test_a_loopback_callback_url_is_refused_at_create(live_server, live_world, receiver, endpoint):
    http = Http(live_server.url, CREDS)
    answer = http.post(f"{endpoint}/10/2/", {"name": "hook", "callback_url": receiver.base + "/hook"})
    assert answer == {"result": False, "data": None, "code": 3540000,
                      "message": "callback_url host[127.0.0.1] is a loopback address, " + NOT_OPEN}
    assert TaskInstance.objects.count() == 0


def test_with_loopback_opened_the_request_and_the_callback_both_arrive(live_server, live_world, open_loopback,
                                                                       receiver):
    http = Http(live_server.url, CREDS)
    one_request_template(live_world, 602)
    tid, node, status = run_request(http, 602, receiver.base + "/ok", callback_url=receiver.base + "/hook")
    assert status["state"] == "FINISHED", status
    detail = node_detail(http, tid, node)
    outputs = {o["key"]: o["value"] for o in detail["outputs"]}
    assert outputs["status_code"] == 200 and outputs["data"] == {"path": "/ok", "status": 200}
    assert receiver.gets == ["/ok"]
    wait_for(lambda: receiver.posts, timeout=30, message="the callback POST")
    (body,) = receiver.posts
    assert body == {"task_id": str(tid), "task_success": "True"}
    wait_for(lambda: TaskCallbackRecord.objects.filter(task_id=tid, status=CallbackStatus.SUCCESS).exists(),
             message="the callback record says success")
