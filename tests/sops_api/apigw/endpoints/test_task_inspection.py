"""The task inspection endpoints (later-endpoints.md §8) through the live API: each one's success, its
refusal by role, a cross-business attempt and bad input; the ones that read runs with a real worker.

The world (tests/support/task_world.py): alice operates businesses 2 and 1, victor views business 2,
olga operates business 1 only; template 10 (business 2) and 30 (business 1) are sleep_timer then
pause_node, whose callback data is captured by ${cb}.
"""
from __future__ import annotations

from typing import Any

import pytest

from tasks_app.models import TaskInstance, TaskOperation
from tests.conftest import wait_for
from tests.support.live_http import Http, child_state, node_id_of, ok, wait_status

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
VIEWER = {**CREDS, "access_token": "viewer_token"}  # victor: viewer of business 2
OLGA = {**CREDS, "access_token": "olga_token"}  # olga: operator of business 1 only
BAD_INPUT, FORBIDDEN, NOT_FOUND = 3540000, 3540100, 3540400


@pytest.fixture
def http(live_server, live_world) -> Http:
    return Http(live_server.url, CREDS)


def refused(answer: dict[str, Any], code: int) -> str:
    assert answer["result"] is False and answer["code"] == code, answer
    return answer["message"]


def create(http: Http, template_id: int = 10, biz: int = 2, **kwargs: Any) -> dict[str, Any]:
    return ok(http.post(f"create_task/{template_id}/{biz}/", {"name": "inspect", **kwargs}))


def run_to_the_end(http: Http, template_id: int = 10, seconds: str = "1") -> tuple[int, dict]:
    """A task of template 10 run to FINISHED: the timer waits, the pause node is called back."""
    task = create(http, template_id, constants={"${bk_timing}": seconds})
    tid, tree = task["task_id"], task["pipeline_tree"]
    pause = node_id_of(tree, "pause_node")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, pause) == "RUNNING")
    ok(http.post(f"node_callback/{tid}/2/", {"node_id": pause, "callback_data": {"answer": 42}}))
    wait_status(http, tid, lambda d: d["state"] == "FINISHED")
    wait_for(lambda: TaskInstance.objects.get(pk=tid).is_finished, message="is_finished mirrored")
    return tid, tree


# --- get_task_node_data -------------------------------------------------------------------------------

@pytest.mark.worker
def test_node_data_inputs_renamed_outputs_and_execution_time_history(http, celery_worker_proc):
    first, first_tree = run_to_the_end(http)
    tid, tree = run_to_the_end(http)
    timer, pause = node_id_of(tree, "sleep_timer"), node_id_of(tree, "pause_node")
    data = ok(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer, "component_code": "sleep_timer"}))
    assert data["inputs"]["bk_timing"] == "1" and data["ex_data"] == ""
    assert {"key": "_result", "value": True} in [{"key": o["key"], "value": o["value"]} for o in data["outputs"]]
    # the runs of the template node in both tasks, newest first: the field the original stopped returning
    times = data["execution_time"]
    assert len(times) == 2 and all(t["elapsed_time"] >= 1 for t in times)
    assert times[0]["archived_time"] >= times[1]["archived_time"] and "T" in times[0]["archived_time"]
    # an output captured by a global variable is shown under its name
    paused = ok(http.get(f"get_task_node_data/2/{tid}/", {"node_id": pause}))
    assert {"key": "${cb}", "value": {"answer": 42}, "preset": False} in paused["outputs"]
    # the latest loop by default, and a loop above it too; an earlier loop that never ran is empty
    assert ok(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer, "loop": 3}))["inputs"] == data["inputs"]
    earlier = {"node_id": node_id_of(first_tree, "sleep_timer")}
    assert ok(http.get(f"get_task_node_data/2/{first}/", earlier))["execution_time"] == times
    # a viewer may read; an outsider may not; another business's path does not find the task
    assert ok(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer}, creds=VIEWER))["inputs"]
    refused(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer}, creds=OLGA), FORBIDDEN)
    refused(http.get(f"get_task_node_data/1/{tid}/", {"node_id": timer}), NOT_FOUND)


def test_node_data_of_a_task_not_started_and_bad_input(http):
    task = create(http, constants={"${bk_timing}": "3"})
    tid, timer = task["task_id"], node_id_of(task["pipeline_tree"], "sleep_timer")
    data = ok(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer}))
    assert data == {"inputs": {"bk_timing": "3"}, "outputs": [], "ex_data": "", "execution_time": []}
    assert "node_id" in refused(http.get(f"get_task_node_data/2/{tid}/"), BAD_INPUT)
    assert "loop" in refused(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer, "loop": "x"}), BAD_INPUT)
    assert "loop" in refused(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer, "loop": 0}), BAD_INPUT)
    assert refused(http.get(f"get_task_node_data/2/{tid}/", {"node_id": timer, "subprocess_stack": "{"}),
                   BAD_INPUT) == "subprocess_stack is not a valid array json"
    refused(http.get(f"get_task_node_data/2/{tid}/", {"node_id": "nodeunknown"}), NOT_FOUND)
    refused(http.get("get_task_node_data/2/999999/", {"node_id": timer}), NOT_FOUND)


# --- modify_constants_for_task ------------------------------------------------------------------------

def test_modify_constants_of_a_task_not_started(http):
    tid = create(http)["task_id"]
    path = f"modify_constants_for_task/{tid}/2/"
    assert ok(http.post(path, {"constants": {"${bk_timing}": 7, "${nope}": 1}, "name": "ignored"})) == "success"
    task = TaskInstance.objects.get(pk=tid)
    assert task.pipeline_tree["constants"]["${bk_timing}"]["value"] == 7  # stored as given, no coercion
    assert task.name == "inspect" and "${nope}" not in task.pipeline_tree["constants"]
    # component outputs and hidden variables are the task's own
    message = refused(http.post(path, {"constants": {"${cb}": "x"}}), BAD_INPUT)
    assert "${cb}" in message
    tree = task.pipeline_tree
    tree["constants"]["${bk_timing}"]["show_type"] = "hide"
    TaskInstance.objects.filter(pk=tid).update(pipeline_tree=tree)
    assert "${bk_timing}" in refused(http.post(path, {"constants": {"${bk_timing}": 1}}), BAD_INPUT)
    assert refused(http.post(path, {"constants": "x"}), BAD_INPUT) == "constants must be an object"
    # a viewer may not; another business's path does not find the task
    refused(http.post(path, {"constants": {}}, creds=VIEWER), FORBIDDEN)
    refused(http.post(f"modify_constants_for_task/{tid}/1/", {"constants": {}}), NOT_FOUND)
    # once started: refused, and nothing recorded for the refusals
    ok(http.post(f"start_task/{tid}/2/"))
    assert refused(http.post(path, {"constants": {"${bk_timing}": 1}}), BAD_INPUT) == "task is started"
    updates = TaskOperation.objects.filter(task_id=tid, operate_type="update")
    assert [u.extra_info for u in updates] == [{"constants": {"${bk_timing}": 7}}]


# --- get_tasks_manual_intervention_state --------------------------------------------------------------

@pytest.mark.worker
def test_manual_intervention_of_a_batch(http, celery_worker_proc):
    waiting = create(http, constants={"${bk_timing}": "0"})
    pause = node_id_of(waiting["pipeline_tree"], "pause_node")
    ok(http.post(f"start_task/{waiting['task_id']}/2/"))
    wait_status(http, waiting["task_id"], lambda d: child_state(d, pause) == "RUNNING")
    idle = create(http)["task_id"]
    other_business = create(http, 30, 1)["task_id"]
    batch = {"task_id_list": [idle, waiting["task_id"], other_business, 999999]}
    answer = ok(http.post("get_tasks_manual_intervention_state/2/", batch))
    assert answer == [{"id": max(idle, waiting["task_id"]), "manual_intervention_required":
                       max(idle, waiting["task_id"]) == waiting["task_id"]},
                      {"id": min(idle, waiting["task_id"]), "manual_intervention_required":
                       min(idle, waiting["task_id"]) == waiting["task_id"]}]
    assert ok(http.post("get_tasks_manual_intervention_state/2/", batch, creds=VIEWER)) == answer
    refused(http.post("get_tasks_manual_intervention_state/2/", batch, creds=OLGA), FORBIDDEN)
    # from business 1, only its own task is seen
    assert ok(http.post("get_tasks_manual_intervention_state/1/", batch)) == [
        {"id": other_business, "manual_intervention_required": False}]
    ok(http.post(f"node_callback/{waiting['task_id']}/2/", {"node_id": pause}))
    wait_status(http, waiting["task_id"], lambda d: d["state"] == "FINISHED")
    assert ok(http.post("get_tasks_manual_intervention_state/2/", {"task_id_list": [waiting["task_id"]]})) == [
        {"id": waiting["task_id"], "manual_intervention_required": False}]


def test_manual_intervention_batch_cap_and_bad_input(http):
    assert ok(http.post("get_tasks_manual_intervention_state/2/", {})) == []
    too_many = {"task_id_list": list(range(1, 11))}
    assert refused(http.post("get_tasks_manual_intervention_state/2/", too_many),
                   BAD_INPUT) == "task_id_list holds at most 9 ids"
    assert "task_id_list" in refused(http.post("get_tasks_manual_intervention_state/2/", {"task_id_list": "1"}),
                                     BAD_INPUT)
    assert ok(http.post("get_tasks_manual_intervention_state/2/", {"task_id_list": list(range(1, 10))})) == []


# --- get_functionalization_task_list ------------------------------------------------------------------

def test_functionalization_tickets_are_scoped_to_the_callers_businesses(http):
    mine = create(http, flow_type="common_func")["task_id"]
    theirs = create(http, 30, 1, flow_type="common_func")["task_id"]
    create(http)  # a common task: no ticket
    answer = http.get("get_functionalization_task_list/")
    assert answer["result"] is True and answer["count"] == 2
    assert [t["id"] for t in answer["data"]] == [theirs, mine]
    ticket = answer["data"][1]
    assert ticket["status"] == "submitted" and ticket["claimant"] == "" and ticket["claim_time"] is None
    assert ticket["create_time"].endswith("Z") and ticket["task"]["bk_biz_id"] == 2
    assert ticket["task"]["template_id"] == "10" and ticket["task"]["is_started"] is False
    # olga operates business 1 only: she does not see business 2's ticket (the original would show it)
    seen = http.get("get_functionalization_task_list/", creds=OLGA)
    assert seen["count"] == 1 and [t["id"] for t in seen["data"]] == [theirs]
    # a claim shows in the ticket, with its time from the audit log
    ok(http.post(f"claim_functionalization_task/{mine}/2/", {"constants": {}}))
    claimed = http.get("get_functionalization_task_list/", {"status": "claimed",
                                                            "expected_timezone": "Asia/Shanghai"})
    assert [t["id"] for t in claimed["data"]] == [mine]
    assert claimed["data"][0]["claimant"] == "alice" and claimed["data"][0]["claim_time"].endswith("+0800")
    assert claimed["data"][0]["reject_time"] == ""
    assert http.get("get_functionalization_task_list/", {"project_id": 1})["count"] == 1
    assert http.get("get_functionalization_task_list/", {"execute_status": "nonExecution",
                                                         "task_id_in": f"{mine},{theirs}"})["count"] == 2
    assert http.get("get_functionalization_task_list/", {"limit": 500, "offset": 1})["data"][0]["id"] == mine


def test_functionalization_list_bad_input(http):
    for params, word in (({"execute_status": "later"}, "execute_status"), ({"offset": -1}, "offset"),
                         ({"limit": "x"}, "limit"), ({"expected_timezone": "Mars/Base"}, "expected_timezone"),
                         ({"id_in": "1,a"}, "id_in"), ({"create_time_gte": "yesterday"}, "")):
        assert word in refused(http.get("get_functionalization_task_list/", params), BAD_INPUT)


# --- get_task_count -----------------------------------------------------------------------------------

def test_task_count_filters_apply_when_present(http):
    first = create(http, name="nightly build")["task_id"]
    create(http, name="other")
    create(http, 30, 1)
    ok(http.post(f"start_task/{first}/2/"))
    assert ok(http.get("get_task_count/2/")) == {"count": 2}
    assert ok(http.get("get_task_count/2/", {"is_started": "true"})) == {"count": 1}
    assert ok(http.get("get_task_count/2/", {"is_started": ""})) == {"count": 1}  # empty: false
    assert ok(http.get("get_task_count/2/", {"keyword": "NIGHTLY"})) == {"count": 1}
    assert ok(http.get("get_task_count/2/", {"executor": ""})) == {"count": 1}  # present: exact ""
    assert ok(http.get("get_task_count/2/", {"template_id": "10", "create_method": "api"})) == {"count": 2}
    assert ok(http.get("get_task_count/2/", creds=VIEWER)) == {"count": 2}
    assert ok(http.get("get_task_count/1/")) == {"count": 1}  # business 1's own tasks only
    refused(http.get("get_task_count/2/", creds=OLGA), FORBIDDEN)
    assert "template_id" in refused(http.get("get_task_count/2/", {"template_id": "ten"}), BAD_INPUT)


# --- get_task_effective_time --------------------------------------------------------------------------

@pytest.mark.worker
def test_effective_time_leaves_out_manual_waiting(http, celery_worker_proc, settings):
    tid, _tree = run_to_the_end(http, seconds="2")
    data = ok(http.get(f"get_task_effective_time/{tid}/2/"))
    # both components are manual-waiting ones by default
    assert data["excluded_component_codes"] == ["bk_approve", "pause_node", "sleep_timer", "bot-approval"]
    assert (data["effective_time"], data["excluded_node_count"], data["total_node_count"]) == (0, 2, 2)
    assert data["total_elapsed_time"] >= 2 and data["task_instance_id"] == tid and data["template_id"] == "10"
    settings.SOPS_MANUAL_WAITING_COMPONENT_CODES = ["pause_node"]
    counted = ok(http.get(f"get_task_effective_time/{tid}/2/", {"debug": "1"}))
    assert 2 <= counted["effective_time"] <= counted["total_elapsed_time"] and counted["excluded_node_count"] == 1
    assert {d["component_code"]: d["excluded"] for d in counted["debug"]["node_details"]} == {
        "sleep_timer": False, "pause_node": True}
    assert ok(http.get(f"get_task_effective_time/{tid}/2/", creds=VIEWER))["task_instance_id"] == tid
    refused(http.get(f"get_task_effective_time/{tid}/2/", creds=OLGA), FORBIDDEN)
    refused(http.get(f"get_task_effective_time/{tid}/1/"), NOT_FOUND)


def test_effective_time_refusals(http):
    tid = create(http)["task_id"]
    assert refused(http.get(f"get_task_effective_time/{tid}/2/"), BAD_INPUT) == f"task[id={tid}] is not finished yet"
    TaskInstance.objects.filter(pk=tid).update(is_started=True, is_finished=True, is_revoked=True)
    assert "was revoked" in refused(http.get(f"get_task_effective_time/{tid}/2/"), BAD_INPUT)
    refused(http.get("get_task_effective_time/x/2/"), BAD_INPUT)


# --- get_task_operate_record --------------------------------------------------------------------------

@pytest.mark.worker
def test_operate_record_lists_every_operation(http, celery_worker_proc):
    task = create(http, constants={"${bk_timing}": "60"})
    tid, timer = task["task_id"], node_id_of(task["pipeline_tree"], "sleep_timer")
    ok(http.post(f"modify_constants_for_task/{tid}/2/", {"constants": {"${bk_timing}": "30"}}))
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, timer) == "RUNNING")
    ok(http.post(f"operate_node/2/{tid}/", {"node_id": timer, "action": "forced_fail"}))
    wait_status(http, tid, lambda d: child_state(d, timer) == "FAILED")
    ok(http.post(f"operate_node/2/{tid}/", {"node_id": timer, "action": "retry",
                                            "inputs": {"bk_timing": "0", "access_token": "s3cret"}}))
    refused(http.post(f"operate_task/{tid}/2/", {"action": "explode"}), BAD_INPUT)  # refused: not recorded
    records = ok(http.get(f"get_task_operate_record/{tid}/2/"))
    assert [(r["operate_type"], r["operate_source"], r["operator"], r["node_id"]) for r in records] == [
        ("create", "api", "alice", ""), ("update", "api", "alice", ""), ("start", "api", "alice", ""),
        ("forced_fail", "api", "alice", timer), ("retry", "api", "alice", timer)]
    assert records[0]["operate_type_name"] == "创建" and records[0]["instance_id"] == tid
    assert records[0]["project_id"] == 2 and "T" in records[0]["operate_date"]
    assert records[1]["extra_info"] == {"constants": {"${bk_timing}": "30"}}
    # the inputs are kept, a credential among them masked
    assert records[4]["extra_info"]["inputs"]["bk_timing"] == "0"
    assert records[4]["extra_info"]["inputs"]["access_token"] != "s3cret"
    assert [r["operate_type"] for r in ok(http.get(f"get_task_operate_record/{tid}/2/", {"node_id": timer}))] == [
        "forced_fail", "retry"]
    assert len(ok(http.get(f"get_task_operate_record/{tid}/2/", creds=VIEWER))) == 5
    refused(http.get(f"get_task_operate_record/{tid}/2/", creds=OLGA), FORBIDDEN)
    refused(http.get(f"get_task_operate_record/{tid}/1/"), NOT_FOUND)
    refused(http.get("get_task_operate_record/0/2/"), NOT_FOUND)
