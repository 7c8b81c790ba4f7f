"""get_task_node_log and get_task_plugin_log through the live API, with a real worker: what the built-in
components log per node attempt, the truncation mark, and each endpoint's refusals."""
from __future__ import annotations

from typing import Any

import pytest

from tests.support import task_trees as trees
from tests.support.live_http import Http, child_state, node_id_of, ok, wait_status

pytestmark = [pytest.mark.worker]

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
VIEWER = {**CREDS, "access_token": "viewer_token"}
OLGA = {**CREDS, "access_token": "olga_token"}
BAD_INPUT, FORBIDDEN, NOT_FOUND = 3540000, 3540100, 3540400
BLOCKED = "http://169.254.169.254/latest/meta-data/?access_token=s3cret"


@pytest.fixture
def http(live_server, live_world, celery_worker_proc) -> Http:
    return Http(live_server.url, CREDS)


def refused(answer: dict[str, Any], code: int) -> str:
    assert answer["result"] is False and answer["code"] == code, answer
    return answer["message"]


def failing_request_task(http: Http, world: Any) -> tuple[int, str]:
    """A started task whose one node GETs an address the allowlist does not open: it fails at once."""
    from templates_app.services import create_template

    tree = trees.TreeBuilder()
    tree.act(trees.http_get("req", BLOCKED, name="request"))
    tree.chain("start", "req", "end")
    create_template(name="blocked", pipeline_tree=tree.build(), creator="alice", business=world.biz2, pk=60)
    task = ok(http.post("create_task/60/2/", {"name": "logs"}))
    node = node_id_of(task["pipeline_tree"], "bk_http_request")
    ok(http.post(f"start_task/{task['task_id']}/2/"))
    wait_status(http, task["task_id"], lambda d: child_state(d, node) == "FAILED")
    return task["task_id"], node


def test_node_log_of_each_attempt(http, live_world):
    tid, node = failing_request_task(http, live_world)
    answer = http.get(f"get_task_node_log/{tid}/2/", {"node_id": node})
    assert answer["result"] is True and answer["page"] == {} and answer["code"] == 0
    lines = answer["data"].splitlines()
    assert "INFO GET http://169.254.169.254/latest/meta-data/ (timeout 5 s)" in lines[0]  # the query left out
    assert "ERROR request refused" in lines[1] and "s3cret" not in answer["data"]
    first = ok(http.get(f"get_task_node_detail/{tid}/2/", {"node_id": node}))["version"]
    ok(http.post(f"operate_node/2/{tid}/", {"node_id": node, "action": "retry"}))
    wait_status(http, tid, lambda d: child_state(d, node) == "FAILED" and d["children"][node]["retry"] == 1)
    # the latest attempt by default, an earlier one by its version
    assert ok(http.get(f"get_task_node_log/{tid}/2/", {"node_id": node})).count("ERROR request refused") == 1
    assert ok(http.get(f"get_task_node_log/{tid}/2/", {"node_id": node, "version": first})) == answer["data"]
    assert ok(http.get(f"get_task_node_log/{tid}/2/", {"node_id": node}, creds=VIEWER))
    refused(http.get(f"get_task_node_log/{tid}/2/", {"node_id": node}, creds=OLGA), FORBIDDEN)
    refused(http.get(f"get_task_node_log/{tid}/1/", {"node_id": node}), NOT_FOUND)
    assert refused(http.get(f"get_task_node_log/{tid}/2/"), BAD_INPUT) == "[API] get_task_node_log node_id is required"
    refused(http.get(f"get_task_node_log/{tid}/2/", {"node_id": "nodeunknown"}), NOT_FOUND)
    refused(http.get(f"get_task_node_log/{tid}/2/", {"node_id": node, "version": "nope"}), NOT_FOUND)
    assert "page" in refused(http.get(f"get_task_node_log/{tid}/2/", {"node_id": node, "page": "x"}), BAD_INPUT)


def test_timer_and_pause_logs_and_the_plugin_log(http):
    task = ok(http.post("create_task/10/2/", {"name": "logs", "constants": {"${bk_timing}": "1"}}))
    tid, tree = task["task_id"], task["pipeline_tree"]
    timer, pause = node_id_of(tree, "sleep_timer"), node_id_of(tree, "pause_node")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, pause) == "RUNNING")
    timer_log = ok(http.get(f"get_task_node_log/{tid}/2/", {"node_id": timer}))
    assert "INFO waiting 1.0 s" in timer_log and "INFO timer is due: done" in timer_log
    assert "waiting for a callback" in ok(http.get(f"get_task_node_log/{tid}/2/", {"node_id": pause}))
    version = ok(http.get(f"get_task_node_detail/{tid}/2/", {"node_id": timer}))["version"]
    plugin = ok(http.get(f"get_task_plugin_log/{tid}/2/", {"node_id": timer, "trace_id": version,
                                                           "plugin_code": "sleep_timer"}))
    assert plugin["total"] == 2 and plugin["scroll_id"] == "" and plugin["truncated"] is False
    assert plugin["logs"].splitlines()[0].split("]", 1)[1].startswith("INFO-sleep_timer: waiting 1.0 s")
    # the original's checks, in its order
    path = f"get_task_plugin_log/{tid}/2/"
    assert refused(http.get(path, {"trace_id": version}), BAD_INPUT) == "[API] get_task_plugin_log node_id is required"
    assert refused(http.get(path, {"node_id": timer}), BAD_INPUT) == "[API] get_task_plugin_log trace_id is required"
    assert "plugin_code is required" in refused(http.get(path, {"node_id": timer, "trace_id": version}), BAD_INPUT)
    assert "trace_id does not belong" in refused(http.get(path, {"node_id": timer, "trace_id": "other",
                                                                 "plugin_code": "sleep_timer"}), NOT_FOUND)
    assert "plugin_code does not belong" in refused(http.get(path, {"node_id": timer, "trace_id": version,
                                                                    "plugin_code": "pause_node"}), NOT_FOUND)
    refused(http.get(path, {"node_id": timer, "trace_id": version, "plugin_code": "sleep_timer"}, creds=OLGA),
            FORBIDDEN)
    refused(http.get(f"get_task_plugin_log/{tid}/1/", {"node_id": timer, "trace_id": version,
                                                       "plugin_code": "sleep_timer"}), NOT_FOUND)


def test_a_long_log_is_cut_and_marked(http, settings):
    """The bound applies across the attempt's calls; the reader marks a cut log (the runtime's store,
    written here as a worker's step would, with a small bound in this process)."""
    from pipeline_engine.runtime import rows

    task = ok(http.post("create_task/10/2/", {"name": "logs", "constants": {"${bk_timing}": "0"}}))
    tid, pause = task["task_id"], node_id_of(task["pipeline_tree"], "pause_node")
    ok(http.post(f"start_task/{tid}/2/"))
    wait_status(http, tid, lambda d: child_state(d, pause) == "RUNNING")
    from tasks_app.models import TaskInstance

    run_id = TaskInstance.objects.get(pk=tid).run_id
    version = ok(http.get(f"get_task_node_detail/{tid}/2/", {"node_id": pause}))["version"]
    from pipeline_engine import api

    used = api.get_node_logs(run_id, pause)[0]["size"]  # pause_node's own "waiting for a callback" line
    settings.SOPS_NODE_LOG_MAX_CHARS = used + 70
    line = ["2026-01-01T00:00:00+00:00", "INFO", "x" * 30]
    rows.append_logs(run_id, [(pause, pause, version, [line, line], False)])
    rows.append_logs(run_id, [(pause, pause, version, [line], False)])  # 60 + 30 > 70: dropped
    rows.append_logs(run_id, [(pause, pause, version, [line[:2] + ["y"]], False)])  # nothing after a cut
    text = ok(http.get(f"get_task_node_log/{tid}/2/", {"node_id": pause}))
    assert text.count("x" * 30) == 2 and "] INFO y" not in text
    assert text.splitlines()[-1].endswith(f"log truncated: this node attempt wrote more than {used + 70} characters")
    assert api.get_node_logs(run_id, pause)[0]["truncated"] is True
