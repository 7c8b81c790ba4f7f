"""operate_node end to end: every action through the live API with a real worker, on trees built here.

Failing nodes are made with built-in components only: bk_http_request to an address
SOPS_HTTP_ALLOWLIST does not open (refused before anything is sent), a local endpoint that
answers 503 once (the tests that use one open the loopback addresses with `open_loopback`), an exclusive gateway whose condition cannot be parsed or matches nothing. Each
operation is checked in get_task_status and in get_task_node_detail (state, retry, skip,
histories); each refusal answers result false, code 3545000, and changes nothing.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from tasks_app.models import TaskCallbackRecord, TaskInstance
from tests.conftest import wait_for
from tests.support import task_trees as trees
from tests.support.live_http import (
    Http,
    Receiver,
    child_state,
    flow_to,
    node_by_name,
    node_id_of,
    ok,
    wait_status,
)

pytestmark = [pytest.mark.worker]

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
BLOCKED = "http://169.254.169.254/latest/meta-data/"  # link-local: refused before any connection
INVALID_OPERATION = 3545000


@pytest.fixture
def http(live_server, live_world, celery_worker_proc) -> Http:
    return Http(live_server.url, CREDS)


@pytest.fixture
def receiver(open_loopback: None) -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def make_template(world: Any, pk: int, tree: dict, name: str = "operate node", validate: bool = True) -> None:
    from templates_app.services import create_template

    # An explicit pk: a sequence-made one could meet the fixture world's fixed ids on PostgreSQL.
    create_template(name=name, pipeline_tree=tree, creator="alice", business=world.biz2, pk=pk, validate=validate)


def started(http: Http, template_id: int, constants: dict | None = None) -> tuple[int, dict]:
    task = ok(http.post(f"create_task/{template_id}/2/", {"name": "operate", "constants": constants or {}}))
    ok(http.post(f"start_task/{task['task_id']}/2/"))
    return task["task_id"], task["pipeline_tree"]


def operate(http: Http, tid: int, node_id: str, action: str, **body: Any) -> dict[str, Any]:
    return http.post(f"operate_node/2/{tid}/", {"node_id": node_id, "action": action, **body})


def detail(http: Http, tid: int, node_id: str) -> dict[str, Any]:
    return ok(http.get(f"get_task_node_detail/{tid}/2/", {"node_id": node_id}))


def refused(answer: dict[str, Any], fragment: str, code: int = INVALID_OPERATION) -> None:
    assert answer["result"] is False and answer["code"] == code, answer
    assert fragment in answer["message"], (fragment, answer["message"])


def output(node: dict[str, Any], key: str) -> Any:
    return next((o["value"] for o in node["outputs"] if o["key"] == key), "<absent>")


def test_retry_reruns_a_failed_node_with_the_same_inputs_or_new_ones(http, live_world, receiver):
    make_template(live_world, 501, trees.two_requests())
    flaky_url = receiver.base + "/flaky"
    tid, tree = started(http, 501, {"${flaky_url}": flaky_url, "${blocked_url}": BLOCKED})
    flaky, blocked = node_by_name(tree, "flaky"), node_by_name(tree, "blocked")

    wait_status(http, tid, lambda d: child_state(d, flaky) == "FAILED" and d["state"] == "FAILED")
    first = detail(http, tid, flaky)
    assert "503" in first["ex_data"] and first["retry"] == 0 and first["histories"] == []

    # without inputs: the same request again, which the endpoint now answers 200
    ok(operate(http, tid, flaky, "retry"))
    wait_status(http, tid, lambda d: child_state(d, flaky) == "FINISHED" and child_state(d, blocked) == "FAILED")
    again = detail(http, tid, flaky)
    assert again["retry"] == 1 and again["inputs"]["bk_http_request_url"] == flaky_url
    assert output(again, "status_code") == 200 and not again["ex_data"]
    (history,) = again["histories"]
    assert history["state"] == "FAILED" and "503" in history["ex_data"]
    assert history["inputs"]["bk_http_request_url"] == flaky_url and history["start_time"]
    assert receiver.gets.count("/flaky") == 2

    # with inputs: they replace the node's own, and the run goes on to the end
    assert "SOPS_HTTP_ALLOWLIST" in detail(http, tid, blocked)["ex_data"]
    new_inputs = {"bk_http_request_method": "GET", "bk_http_request_url": receiver.base + "/ok",
                  "bk_http_request_timeout": "5"}
    ok(operate(http, tid, blocked, "retry", inputs=new_inputs))
    done = wait_status(http, tid, lambda d: d["state"] == "FINISHED")
    assert child_state(done, blocked) == "FINISHED" and done["children"][blocked]["retry"] == 1
    node = detail(http, tid, blocked)
    assert node["inputs"]["bk_http_request_url"] == receiver.base + "/ok" and output(node, "status_code") == 200
    (history,) = node["histories"]
    assert history["inputs"]["bk_http_request_url"] == BLOCKED and "SOPS_HTTP_ALLOWLIST" in history["ex_data"]
    assert "/ok" in receiver.gets
    # the retried node's output reached the task's outputs
    assert ok(http.get(f"get_task_detail/{tid}/2/"))["outputs"] == [{"key": "${code}", "value": 200, "name": "code"}]


def test_skip_lets_the_task_go_on_without_the_skipped_nodes_outputs(http, live_world):
    make_template(live_world, 502, trees.blocked_then_assign())
    tid, tree = started(http, 502)
    blocked, after = node_by_name(tree, "blocked"), node_by_name(tree, "after")
    failed = wait_status(http, tid, lambda d: child_state(d, blocked) == "FAILED" and d["state"] == "FAILED")
    assert after not in failed["children"]

    ok(operate(http, tid, blocked, "skip"))
    done = wait_status(http, tid, lambda d: d["state"] == "FINISHED")
    assert done["children"][blocked]["skip"] is True and child_state(done, blocked) == "FINISHED"
    node = detail(http, tid, blocked)
    assert node["skip"] is True and output(node, "status_code") == "<absent>"
    (history,) = node["histories"]
    assert history["state"] == "FAILED" and "SOPS_HTTP_ALLOWLIST" in history["ex_data"]
    # nothing was extracted into ${code}: the next node and the task's outputs see its default
    assert detail(http, tid, after)["inputs"]["code"] == "none"
    assert ok(http.get(f"get_task_detail/{tid}/2/"))["outputs"] == [{"key": "${code}", "value": "none", "name": "code"}]
    wait_for(lambda: TaskInstance.objects.filter(pk=tid, is_finished=True).exists(), message="is_finished")


def test_skip_exg_takes_the_chosen_branch_of_a_failed_exclusive_gateway(http, live_world):
    make_template(live_world, 503, trees.exclusive_on_x())
    # Two tasks at once: a condition that cannot be parsed, and no condition true with no default.
    cases = [(started(http, 503, {"${x}": "("}), "cannot be parsed", "b"),
             (started(http, 503, {"${x}": "3"}), "no condition meets", "a")]
    for (tid, tree), reason, branch in cases:
        eg = node_by_name(tree, "eg")
        wait_status(http, tid, lambda d, eg=eg: child_state(d, eg) == "FAILED")
        assert reason in detail(http, tid, eg)["ex_data"]
        other_flow = next(f for f in tree["flows"] if f not in tree["gateways"][eg]["outgoing"])
        refused(operate(http, tid, eg, "skip_exg"), "flow_id is required", code=3540000)
        refused(operate(http, tid, eg, "skip_exg", flow_id=other_flow), "is not an outgoing flow")
        refused(operate(http, tid, eg, "skip"), "can not be skipped")
        ok(operate(http, tid, eg, "skip_exg", flow_id=flow_to(tree, eg, node_by_name(tree, branch))))
    for (tid, tree), _reason, branch in cases:
        eg, chosen = node_by_name(tree, "eg"), node_by_name(tree, branch)
        unchosen = node_by_name(tree, "a" if branch == "b" else "b")
        done = wait_status(http, tid, lambda d: d["state"] == "FINISHED")
        assert child_state(done, chosen) == "FINISHED" and unchosen not in done["children"]
        gateway = detail(http, tid, eg)
        assert gateway["skip"] is True and gateway["state"] == "FINISHED"
        assert [h["state"] for h in gateway["histories"]] == ["FAILED"]
        assert output(detail(http, tid, chosen), "branch") == branch


def test_pause_subproc_holds_the_subprocess_and_resume_subproc_lets_it_finish(http, live_world):
    make_template(live_world, 504, trees.timer_then_assign("3"), name="child")
    # Not validated here: template validation does not unfold SubProcess nodes (create_task does, and
    # validates the result).
    make_template(live_world, 505, trees.subprocess_of(504), name="parent")
    tid, tree = started(http, 505)
    sub = node_by_name(tree, "sub")
    inner = tree["activities"][sub]["pipeline"]
    ctimer, cdone = node_by_name(inner, "ctimer"), node_by_name(inner, "cdone")

    def inside(data: dict, node_id: str) -> str | None:
        return child_state(data["children"].get(sub) or {}, node_id)

    wait_status(http, tid, lambda d: inside(d, ctimer) == "RUNNING")
    refused(operate(http, tid, sub, "resume_subproc"), "state is RUNNING, can not resume")
    refused(operate(http, tid, ctimer, "pause_subproc"), "is not a subprocess")
    ok(operate(http, tid, sub, "pause_subproc"))
    paused = ok(http.get(f"get_task_status/{tid}/2/"))  # the operation is synchronous: no wait
    assert child_state(paused, sub) == "SUSPENDED" and paused["state"] == "NODE_SUSPENDED"
    refused(operate(http, tid, sub, "pause_subproc"), "state is SUSPENDED, can not pause")

    # The timer already running ends, but nothing after it starts while the subprocess is paused.
    held = wait_status(http, tid, lambda d: inside(d, ctimer) == "FINISHED", message="the child timer ends")
    assert inside(held, cdone) is None and child_state(held, sub) == "SUSPENDED"
    time.sleep(0.5)
    still = ok(http.get(f"get_task_status/{tid}/2/"))
    assert inside(still, cdone) is None and still["state"] == "NODE_SUSPENDED"

    ok(operate(http, tid, sub, "resume_subproc"))
    done = wait_status(http, tid, lambda d: d["state"] == "FINISHED")
    assert child_state(done, sub) == "FINISHED" and inside(done, cdone) == "FINISHED"
    refused(operate(http, tid, sub, "resume_subproc"), "can not resume")


def test_forced_fail_stops_a_running_node_and_retry_or_skip_continues(http, live_world):
    make_template(live_world, 506, trees.two_timers("30"))
    tid, tree = started(http, 506)
    t1, t2 = node_by_name(tree, "t1"), node_by_name(tree, "t2")
    wait_status(http, tid, lambda d: child_state(d, t1) == "RUNNING")
    refused(operate(http, tid, t1, "retry"), "state is RUNNING, can not retry")
    refused(operate(http, tid, t1, "skip"), "state is RUNNING, can not skip")

    ok(operate(http, tid, t1, "forced_fail"))
    now = ok(http.get(f"get_task_status/{tid}/2/"))  # at once, not after the 30 s
    assert now["state"] == "FAILED" and child_state(now, t1) == "FAILED"
    assert detail(http, tid, t1)["ex_data"] == "The node has been terminated by alice."
    refused(operate(http, tid, t1, "forced_fail"), "state is FAILED, can not forced fail")

    ok(operate(http, tid, t1, "retry", inputs={"bk_timing": "0"}))
    wait_status(http, tid, lambda d: child_state(d, t1) == "FINISHED" and child_state(d, t2) == "RUNNING")
    first = detail(http, tid, t1)
    assert first["retry"] == 1 and first["inputs"]["bk_timing"] == "0"
    assert [(h["state"], h["ex_data"]) for h in first["histories"]] == [
        ("FAILED", "The node has been terminated by alice.")]

    ok(operate(http, tid, t2, "forced_fail"))
    ok(operate(http, tid, t2, "skip"))
    done = wait_status(http, tid, lambda d: d["state"] == "FINISHED")
    assert done["children"][t2]["skip"] is True and done["elapsed_time"] < 30
    assert [h["state"] for h in detail(http, tid, t2)["histories"]] == ["FAILED"]


def test_forced_fail_reports_the_failed_stop_to_callback_url(http, live_world, receiver):
    make_template(live_world, 507, trees.two_timers("30"))
    task = ok(http.post("create_task/507/2/", {"name": "forced", "callback_url": receiver.base + "/hook"}))
    tid, t1 = task["task_id"], node_by_name(task["pipeline_tree"], "t1")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, t1) == "RUNNING")
    ok(operate(http, tid, t1, "forced_fail"))
    # Whichever process would send the signal, record_run_end writes this row.
    wait_for(lambda: TaskCallbackRecord.objects.filter(task_id=tid, state="FAILED").exists(), timeout=5,
             message="a FAILED callback record after forced_fail")


def test_a_status_tree_never_shows_half_of_a_step(http):
    from pipeline_engine import api
    from pipeline_engine.runtime.models import Run
    from pipeline_engine.runtime.prepared import statement_of

    task = ok(http.post("create_task/10/2/", {"name": "snapshot", "constants": {"${bk_timing}": "0"}}))
    tid, pause = task["task_id"], node_id_of(task["pipeline_tree"], "pause_node")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, pause) == "RUNNING")
    run_id = TaskInstance.objects.get(pk=tid).run_id

    def fail_the_node_elsewhere() -> None:
        try:
            api.forced_fail(run_id, pause, "committed between the two reads")
        finally:
            connection.close()

    fired: list[str] = []

    def after_the_run_is_read(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        result = execute(sql, params, many, context)
        statement = statement_of(sql)  # a prepared statement's EXECUTE, as the SQL it runs
        if not fired and statement.lstrip().upper().startswith("SELECT") and Run._meta.db_table in statement:
            fired.append(sql)
            other = threading.Thread(target=fail_the_node_elsewhere)  # its own connection: a real commit
            other.start()
            other.join(10)
        return result

    with connection.execute_wrapper(after_the_run_is_read):
        tree = api.get_status_tree(run_id)
    assert fired and child_state(ok(http.get(f"get_task_status/{tid}/2/")), pause) == "FAILED"
    assert (tree["state"], child_state(tree, pause)) in {("RUNNING", "RUNNING"), ("FAILED", "FAILED")}, tree


def _snapshot(http: Http, tid: int, node_ids: list[str]) -> dict[str, Any]:
    """What a refused operation must not change: the status tree (less the clock) and each node's detail."""
    def still(node: dict) -> dict:
        return {**{k: v for k, v in node.items() if k != "elapsed_time"},
                "children": {i: still(c) for i, c in node.get("children", {}).items()}}
    nodes = {}
    for node_id in node_ids:
        d = detail(http, tid, node_id)
        nodes[node_id] = {k: d[k] for k in ("state", "retry", "skip", "version", "ex_data", "inputs", "histories")}
    return {"status": still(ok(http.get(f"get_task_status/{tid}/2/"))), "nodes": nodes}


def test_refused_operations_answer_3545000_and_change_nothing(http):
    task = ok(http.post("create_task/10/2/", {"name": "refusals", "constants": {"${bk_timing}": "0"}}))
    tid, tree = task["task_id"], task["pipeline_tree"]
    timer, pause = node_id_of(tree, "sleep_timer"), node_id_of(tree, "pause_node")
    for action in ("retry", "skip", "skip_exg", "callback", "pause_subproc", "resume_subproc", "forced_fail"):
        refused(operate(http, tid, timer, action, flow_id="x"), "task not started")

    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, pause) == "RUNNING")
    before = _snapshot(http, tid, [timer, pause])
    some_flow = next(iter(tree["flows"]))
    for node, action, body, reason in [
        (timer, "retry", {}, "state is FINISHED, can not retry"),
        (timer, "retry", {"inputs": {"bk_timing": "1"}}, "state is FINISHED, can not retry"),
        (timer, "skip", {}, "state is FINISHED, can not skip"),
        (timer, "forced_fail", {}, "state is FINISHED, can not forced fail"),
        (timer, "callback", {"data": {}}, "is not waiting for a callback"),
        (pause, "retry", {}, "state is RUNNING, can not retry"),
        (pause, "skip", {}, "state is RUNNING, can not skip"),
        (pause, "skip_exg", {"flow_id": some_flow}, "is not an exclusive gateway"),
        (pause, "pause_subproc", {}, "is not a subprocess"),
        (pause, "resume_subproc", {}, "is not a subprocess"),
    ]:
        answer = operate(http, tid, node, action, **body)
        refused(answer, reason)
        assert answer["data"] is None
    # malformed requests are the caller's error (3540000), an unknown node is not found (3540400)
    refused(operate(http, tid, pause, "rerun"), "node action[rerun] is invalid", code=3540000)
    refused(operate(http, tid, timer, "retry", inputs=[1]), "inputs field is not a valid object", code=3540000)
    refused(operate(http, tid, pause, "callback", data="x"), "data field is not a valid object", code=3540000)
    refused(operate(http, tid, "node" + "0" * 28, "retry"), "does not have node", code=3540400)
    assert _snapshot(http, tid, [timer, pause]) == before

    ok(operate(http, tid, pause, "callback", data={"k": 1}))
    wait_status(http, tid, lambda d: d["state"] == "FINISHED")
    finished = _snapshot(http, tid, [timer, pause])
    for action, body in (("retry", {}), ("skip", {}), ("forced_fail", {}), ("callback", {"data": {"k": 2}})):
        refused(operate(http, tid, pause, action, **body), "FINISHED")
    assert _snapshot(http, tid, [timer, pause]) == finished
