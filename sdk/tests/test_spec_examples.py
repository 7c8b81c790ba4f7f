"""Every "ESB SDK 调用示例" of spec/apigw.md, run as written against a fresh demo server.

Each test below holds its section's example. The example's first two lines
(`from bkapigw.app_code.shortcuts import get_client_by_request` and
`client = get_client_by_request(request)`, a Django request in a BlueKing app)
are replaced by the `client` fixture: sops_sdk.Client with the app's
credentials and the demo user's bk_token. Everything else is the spec's text,
apart from the changes CHANGES names (test_examples_are_the_specs_own checks
that against the spec). The examples run in the spec's order; the ids they name
exist because `arranged` creates what the examples assume on a fresh demo:

- task 10 in business 2: the spec's HTTP create_task example creates it from
  template 10 of business 2; its SDK example creates from template 30 of
  business 1 instead (that one becomes task 11), while start_task,
  operate_task, get_task_status and get_task_detail read task 10 of business 2;
- periodic tasks 1 to 8 in business 2: get_periodic_task_info reads 8, the
  set/modify examples change 1.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "apigw.md"
OLDER_SPEC = SPEC.with_name("apigw_older.md")

# The only changes to the spec's examples, and why.
CHANGES: dict[str, list[tuple[str, str]]] = {
    # Five examples call `client.api.api_test`, the generic name of BlueKing's SDK doc template;
    # the operation of their section is meant (`api_test` is no operation: see test_api_test_is_no_operation).
    **{name: [("client.api.api_test(", f"client.api.{name}(")]
       for name in ("get_template_list", "get_template_info", "create_task", "start_task", "operate_task")},
    # Not valid Python as written: a comma is missing after the node_id value.
    "get_task_node_detail": [('"node0df0431f8f553925af01a94854bd"\n', '"node0df0431f8f553925af01a94854bd",\n')],
}
CONSTRUCTION = ("from bkapigw.app_code.shortcuts import get_client_by_request",
                "client = get_client_by_request(request)")


@pytest.fixture(scope="module")
def arranged(client):
    """What the examples assume exists; refuses to run on a server that is not fresh."""
    for biz in (1, 2):
        assert client.tasks.list(bk_biz_id=biz).count == 0, "the spec examples need a fresh demo server"
    assert client.periodic_tasks.list(bk_biz_id=2) == [], "the spec examples need a fresh demo server"
    # The HTTP create_task example: template 10 of business 2 (the demo makes the first task id 10).
    created = client.api.create_task(
        {"name": "tasktest", "flow_type": "common",
         "constants": {"${content}": "echo 1", "${params}": "", "${script_timeout}": 20}},
        path_params={"template_id": "10", "bk_biz_id": "2"})
    assert created["result"] is True and created["data"]["task_id"] == 10, created
    periodic_ids = [client.periodic_tasks.create(template_id=1, bk_biz_id=2, name=f"arranged {n}",
                                                 cron={"minute": "0", "hour": "3"}).id for n in range(8)]
    assert periodic_ids == list(range(1, 9))


def succeeded(result: dict) -> object:
    assert result["result"] is True and result["code"] == 0, result
    return result["data"]


def test_get_template_list(client, arranged):
    kwargs = {
    }
    path_kwargs = {
        "bk_biz_id": "2"
    }
    result = client.api.get_template_list(kwargs, path_kwargs)

    data = succeeded(result)
    assert {item["id"] for item in data} >= {1, 2, 3, 4, 5, 10}
    assert all(item["bk_biz_id"] == "2" and item["bk_biz_name"] == "blueking" for item in data)


def test_get_template_info(client, arranged):
    kwargs = {
    }
    path_kwargs = {
        "bk_biz_id": "1",
        "template_id": "30",
    }
    result = client.api.get_template_info(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["id"] == 30 and data["bk_biz_id"] == "1"
    assert set(data["pipeline_tree"]["constants"]) == {"${script_type}", "${content}", "${script_timeout}",
                                                       "${params}"}


def test_create_task(client, arranged):
    kwargs = {
        "name": "tasktest",
        "flow_type": "common",
        "constants": {
            "${content}": "echo 1",
            "${params}": "",
            "${script_timeout}": 20
        }
    }
    path_kwargs = {
        "bk_biz_id": "1",
        "template_id": "30",
    }
    result = client.api.create_task(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["task_id"] == 11 and set(data) >= {"task_id", "task_url", "pipeline_tree"}
    assert data["pipeline_tree"]["constants"]["${content}"]["value"] == "echo 1"
    assert client.tasks.detail(task_id=11, bk_biz_id=1).business_id == 1


def test_start_task(client, arranged):
    kwargs = {
    }
    path_kwargs = {
        "bk_biz_id": "2",
        "task_id": "10",
    }
    result = client.api.start_task(kwargs, path_kwargs)

    assert succeeded(result) == "success"
    assert client.tasks.status(task_id=10, bk_biz_id=2).state != "CREATED"


def test_operate_task(client, arranged):
    kwargs = {
        "action": "start"
    }
    path_kwargs = {
        "bk_biz_id": "2",
        "task_id": "10",
    }
    result = client.api.operate_task(kwargs, path_kwargs)

    # The example starts task 10, which start_task's example has just started: refused, as in the original.
    assert result["result"] is False and result["code"] == 3545000, result
    assert result["message"] == "task already started"


def test_get_task_status(client, arranged):
    kwargs = {
    }
    path_kwargs = {
        "bk_biz_id": "2",
        "task_id": "10",
    }
    result = client.api.get_task_status(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["state"] in {"RUNNING", "FAILED", "FINISHED"} and isinstance(data["children"], dict)
    assert set(data) >= {"id", "state", "retry", "skip", "start_time", "finish_time", "children"}


def test_get_task_detail(client, arranged):
    kwargs = {
    }
    path_kwargs = {
      "bk_biz_id": "2",
      "task_id": "10",
    }
    result = client.api.get_task_detail(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["id"] == 10 and data["business_id"] == 2 and data["template_id"] == 10
    assert data["constants"]["${content}"]["value"] == "echo 1"


def test_get_task_node_detail(client, arranged):
    kwargs = {
        "node_id": "node0df0431f8f553925af01a94854bd",
        "subprocess_stack": "[\"nodeaaa0ce51d2143aa9b0dbc27cb7df\"]",
        "component_code": "job_fast_execute_script",
    }
    path_kwargs = {
        "bk_biz_id": "2",
        "task_id": "10",
    }
    result = client.api.get_task_node_detail(kwargs, path_kwargs)

    # The node ids are the spec author's; a task's node ids are regenerated when it is created.
    assert result["result"] is False and result["code"] == 3540400, result
    assert result["message"] == "node[node_id=node0df0431f8f553925af01a94854bd] not found in task[task_id=10]"


def test_query_task_count(client, arranged):
    kwargs = {
        "conditions": {"create_time__lte": "2018-07-12 10:00:00", "is_started": True},
        "group_by": "flow_type"
    }
    path_kwargs = {
        "bk_biz_id": "2",
    }
    result = client.api.query_task_count(kwargs, path_kwargs)

    data = succeeded(result)
    # Every task of the demo is newer than 2018.
    assert data["total"] == 0 and {g["code"] for g in data["groups"]} >= {"common", "common_func"}


def test_get_periodic_task_list(client, arranged):
    kwargs = {
    }
    path_kwargs = {
        "bk_biz_id": "2",
    }
    result = client.api.get_periodic_task_list(kwargs, path_kwargs)

    data = succeeded(result)
    assert sorted(item["id"] for item in data) == list(range(1, 9))
    assert all(item["enabled"] is False and item["template_id"] == "1" for item in data)


def test_get_periodic_task_info(client, arranged):
    kwargs = {
    }
    path_kwargs = {
        "task_id": "8",
        "bk_biz_id": "2",
    }
    result = client.api.get_periodic_task_info(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["id"] == 8 and data["name"] == "arranged 7" and "${bk_timing}" in data["form"]


def test_create_periodic_task(client, arranged):
    kwargs = {
        "name": "from api 3",
        "cron" : {"minute": "*/1", "hour": "15", "day_of_week":"*", "day_of_month":"*", "month_of_year":"*"},
        "constants": {"${bk_timing}": "100"},
        "exclude_task_nodes_id": ["nodea5c396a3ef0f9f3cd7d4d7695f78"]
    }
    path_kwargs = {
        "template_id": "1",
        "bk_biz_id": "2",
    }
    result = client.api.create_periodic_task(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["id"] == 9 and data["name"] == "from api 3" and data["enabled"] is False
    assert data["cron"] == "*/1 15 * * * (m/h/d/dM/MY)"
    assert data["form"]["${bk_timing}"]["value"] == "100"
    # the pause node is excluded: only the timer is left
    assert [a["component"]["code"] for a in data["pipeline_tree"]["activities"].values()] == ["sleep_timer"]


def test_set_periodic_task_enabled(client, arranged):
    kwargs = {
        "enabled": False
    }
    path_kwargs = {
        "task_id": "1",
        "bk_biz_id": "2",
    }
    result = client.api.set_periodic_task_enabled(kwargs, path_kwargs)

    assert succeeded(result) == {"enabled": False}


def test_modify_cron_for_periodic_task(client, arranged):
    kwargs = {
        "cron" : {"minute": "*/1", "hour": "15", "day_of_week":"*", "day_of_month":"*", "month_of_year":"*"},
    }
    path_kwargs = {
        "task_id": "1",
        "bk_biz_id": "2",
    }
    result = client.api.modify_cron_for_periodic_task(kwargs, path_kwargs)

    assert succeeded(result) == {"cron": "*/1 15 * * * (m/h/d/dM/MY)"}
    assert client.periodic_tasks.get(task_id=1, bk_biz_id=2).cron == "*/1 15 * * * (m/h/d/dM/MY)"


def test_modify_constants_for_periodic_task(client, arranged):
    kwargs = {
        "constants": {"${bk_timing}": "15"}
    }
    path_kwargs = {
        "task_id": "1",
        "bk_biz_id": "2",
    }
    result = client.api.modify_constants_for_periodic_task(kwargs, path_kwargs)

    data = succeeded(result)
    assert data["${bk_timing}"]["value"] == "15"
    assert client.periodic_tasks.get(task_id=1, bk_biz_id=2).form["${bk_timing}"]["value"] == "15"


def test_node_callback(client, arranged):
    kwargs = {
        "node_id": "node76393dcfedcf73dbc726f1c4786d",
        "callback_data": {"data": "data"},
    }
    path_kwargs = {
        "task_id": "1",
        "bk_biz_id": "2",
    }
    result = client.api.node_callback(kwargs, path_kwargs)

    # Task ids of the demo start at 10 and node ids are regenerated per task: the example's task and node
    # are the spec author's. A clear refusal; test_timer_pause_flow.py calls back a real pause node.
    assert result["result"] is False and result["code"] == 3540400, result
    assert result["message"] == "task[id=1] of business[bk_biz_id=2] does not exist"


def test_api_test_is_no_operation(client):
    with pytest.raises(AttributeError):
        client.api.api_test  # noqa: B018


# --- the examples above are the spec's ---------------------------------------------------------------

def _sections(path: Path) -> dict[str, str]:
    """endpoint -> the code of its "ESB SDK 调用示例" block."""
    found = {}
    for section in re.split(r"\n## ", path.read_text(encoding="utf-8"))[1:]:
        name = section.split("\n", 1)[0].strip()
        block = re.search(r"### ESB SDK 调用示例\s*```[a-z]*\n(.*?)```", section, re.S)
        if block:
            found[name] = block.group(1)
    return found


def _squeezed(code: str) -> str:
    """Code without comment lines and without any whitespace: layout and quotes aside, the same text."""
    lines = [line for line in code.splitlines() if not line.strip().startswith("#")]
    return re.sub(r"\s+", "", "\n".join(lines)).replace("'", '"')


@pytest.mark.skipif(not SPEC.exists(), reason=f"the spec is not beside the repository ({SPEC})")
def test_examples_are_the_specs_own():
    examples = _sections(SPEC)
    assert len(examples) == 16
    for name, code in examples.items():
        lines = code.splitlines()
        assert tuple(line.strip() for line in lines[:2]) == CONSTRUCTION, name
        body = "\n".join(lines[2:]) + "\n"
        for old, new in CHANGES.get(name, []):
            assert old in body, (name, old)
            body = body.replace(old, new)
        test = globals()[f"test_{name}"]
        assert _squeezed(body) in _squeezed(inspect.getsource(test)), f"test_{name} is not the spec's example"


@pytest.mark.skipif(not OLDER_SPEC.exists(), reason=f"the older spec is not beside the repository ({OLDER_SPEC})")
def test_the_older_editions_examples_are_the_same_calls():
    """So the tests above cover the older edition's SDK examples too (it quotes with ' and says api_test)."""
    newer, older = _sections(SPEC), _sections(OLDER_SPEC)
    assert set(older) <= set(newer)
    def call(name: str, code: str) -> str:
        return re.sub(r",([}\]])", r"\1", _squeezed(code).replace("client.api.api_test(", f"client.api.{name}("))

    for name, code in older.items():
        assert call(name, code) == call(name, newer[name]), name
