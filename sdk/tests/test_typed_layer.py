"""The typed layer against the live server: templates, tasks, nodes, periodic tasks and counts, with the
errors it raises when the service answers result false."""
from __future__ import annotations

import pytest

from sops_sdk import InvalidOperationError, InvalidParameterError, NotFoundError
from sops_sdk.models import Template, TemplateSummary


def test_templates(client):
    listed = client.templates.list(bk_biz_id=2)
    assert all(isinstance(t, TemplateSummary) for t in listed) and {t.id for t in listed} >= {1, 2, 3, 4, 5, 10}
    assert all(t.create_time.utcoffset().total_seconds() == 8 * 3600 for t in listed)
    template = client.templates.get(template_id=1, bk_biz_id=2)
    assert isinstance(template, Template) and template.id == 1 and template.constants["${bk_timing}"]["value"] == "2"
    common = client.templates.list(bk_biz_id=2, template_source="common")
    assert [t.id for t in common] == [100]
    assert client.templates.get(template_id=100, bk_biz_id=2, template_source="common").pipeline_tree["activities"]
    with pytest.raises(NotFoundError):
        client.templates.get(template_id=999999, bk_biz_id=2)
    with pytest.raises(NotFoundError):
        client.templates.list(bk_biz_id=424242)


def test_the_older_editions_info_path(client):
    result = client.api.get_template_info_by_list_path({}, {"template_id": "30", "bk_biz_id": "1"})
    assert result["result"] is True and result["data"]["id"] == 30


def test_a_task_created_runs_to_its_outputs(client):
    created = client.tasks.create(template_id=4, bk_biz_id=2, name="typed outputs", constants={"${name}": "sdk"})
    detail = client.tasks.detail(task_id=created.task_id, bk_biz_id=2)
    assert detail.id == created.task_id and detail.name == "typed outputs" and detail.start_time is None
    client.tasks.start(task_id=created.task_id, bk_biz_id=2)
    assert client.wait_for_task(created.task_id, 2, timeout=30).state == "FINISHED"
    detail = client.tasks.detail(task_id=created.task_id, bk_biz_id=2)
    assert detail.output("${greeting}") == "hello sdk" and detail.executor == "admin"
    with pytest.raises(KeyError):
        detail.output("${nothing}")
    node = client.nodes.detail(task_id=created.task_id, bk_biz_id=2,
                               node_id=created.node_id(component_code="var_assign"))
    assert node.state == "FINISHED" and {o.key for o in node.outputs} >= {"greeting"}
    with pytest.raises(InvalidOperationError):
        client.tasks.start(task_id=created.task_id, bk_biz_id=2)


def test_create_and_start_list_and_statuses(client):
    created = client.tasks.create_and_start(template_id=5, bk_biz_id=2, name="typed three timers")
    page = client.tasks.list(bk_biz_id=2, limit=1)
    assert page.count >= 1 and [t.id for t in page.items] == [created.task_id] and page.items[0].is_started
    (item,) = client.tasks.statuses(bk_biz_id=2, task_ids=[created.task_id], include_children=True)
    assert item.id == created.task_id and item.status.state in {"RUNNING", "FINISHED"}
    final = client.wait_for_task(created.task_id, 2, timeout=60)
    assert final.state == "FINISHED" and len([c for c in final.children.values() if c.name]) == 3
    assert client.tasks.list(bk_biz_id=2, is_finished=True, keyword="typed three timers").items[0].is_finished
    with pytest.raises(InvalidParameterError):
        client.tasks.statuses(bk_biz_id=2, task_ids=[])


def test_pause_resume_and_revoke(client):
    created = client.tasks.create(template_id=1, bk_biz_id=2, name="typed pause", constants={"${bk_timing}": "30"})
    client.tasks.start(task_id=created.task_id, bk_biz_id=2)
    client.tasks.pause(task_id=created.task_id, bk_biz_id=2)
    assert client.tasks.status(task_id=created.task_id, bk_biz_id=2).state == "SUSPENDED"
    client.tasks.resume(task_id=created.task_id, bk_biz_id=2)
    assert client.tasks.status(task_id=created.task_id, bk_biz_id=2).state == "RUNNING"
    client.tasks.revoke(task_id=created.task_id, bk_biz_id=2)
    assert client.wait_for_task(created.task_id, 2, timeout=30).state == "REVOKED"
    with pytest.raises(InvalidParameterError, match="task action is invalid"):
        client.tasks.operate(task_id=created.task_id, bk_biz_id=2, action="explode")


def test_preview_exclude_and_claim(client):
    template = client.templates.get(template_id=1, bk_biz_id=2)
    pause = [i for i, a in template.pipeline_tree["activities"].items() if a["component"]["code"] == "pause_node"]
    tree = client.tasks.preview_tree(template_id=1, bk_biz_id=2, exclude_task_nodes_id=pause)
    assert [a["component"]["code"] for a in tree["activities"].values()] == ["sleep_timer"]

    func = client.tasks.create(template_id=4, bk_biz_id=2, name="typed func", flow_type="common_func")
    with pytest.raises(InvalidOperationError):  # a common_func task starts only once claimed
        client.tasks.start(task_id=func.task_id, bk_biz_id=2)
    claimed = client.tasks.claim(task_id=func.task_id, bk_biz_id=2, constants={"${name}": "claimed"})
    assert claimed["task_id"] == func.task_id and claimed["current_flow"] == "execute_task"
    client.tasks.start(task_id=func.task_id, bk_biz_id=2)
    assert client.wait_for_task(func.task_id, 2, timeout=30).state == "FINISHED"


def test_retry_and_skip_a_failed_node(client):
    # Template 10 runs a script; script execution is off in the demo, so the node fails.
    created = client.tasks.create(template_id=10, bk_biz_id=2, name="typed failing script",
                                  constants={"${content}": "echo 1", "${params}": "", "${script_timeout}": 20})
    script = created.node_id(component_code="job_fast_execute_script")
    client.tasks.start(task_id=created.task_id, bk_biz_id=2)
    assert client.wait_for_task(created.task_id, 2, timeout=30).state == "FAILED"
    failed = client.nodes.detail(task_id=created.task_id, bk_biz_id=2, node_id=script)
    assert failed.state == "FAILED" and failed.ex_data
    client.nodes.skip(task_id=created.task_id, bk_biz_id=2, node_id=script)
    final = client.wait_for_task(created.task_id, 2, timeout=30)
    assert final.state == "FINISHED" and final.find(script).skip is True
    with pytest.raises(InvalidOperationError):
        client.nodes.retry(task_id=created.task_id, bk_biz_id=2, node_id=script)


def test_periodic_tasks(client):
    created = client.periodic_tasks.create(template_id=1, bk_biz_id=2, name="typed periodic",
                                           cron={"minute": "*/5"}, constants={"${bk_timing}": "3"})
    assert created.enabled is False and created.cron == "*/5 * * * * (m/h/d/dM/MY)" and created.template_id == 1
    assert created.form["${bk_timing}"]["value"] == "3"
    assert created.id in {p.id for p in client.periodic_tasks.list(bk_biz_id=2)}
    assert client.periodic_tasks.set_enabled(task_id=created.id, bk_biz_id=2, enabled=True) is True
    assert client.periodic_tasks.get(task_id=created.id, bk_biz_id=2).enabled is True
    assert client.periodic_tasks.modify_cron(task_id=created.id, bk_biz_id=2,
                                             cron={"minute": "0", "hour": "4"}) == "0 4 * * * (m/h/d/dM/MY)"
    constants = client.periodic_tasks.modify_constants(task_id=created.id, bk_biz_id=2,
                                                       constants={"${bk_timing}": "7"})
    assert constants["${bk_timing}"]["value"] == "7"
    assert client.periodic_tasks.set_enabled(task_id=created.id, bk_biz_id=2, enabled=False) is False
    history = client.periodic_tasks.history(task_id=created.id, bk_biz_id=2, limit=10)
    assert history.count == 0 and history.results == [] and history.limit == 10
    with pytest.raises(InvalidParameterError):
        client.periodic_tasks.modify_cron(task_id=created.id, bk_biz_id=2, cron={"minute": "61"})
    with pytest.raises(NotFoundError):
        client.periodic_tasks.get(task_id=999999, bk_biz_id=2)


def test_counts(client):
    before = client.counts.tasks(bk_biz_id=2, group_by="flow_type")
    client.tasks.create(template_id=4, bk_biz_id=2, name="typed counted")
    after = client.counts.tasks(bk_biz_id=2, group_by="flow_type", conditions={"is_started": False})
    assert after.by_code()["common"] >= 1 and after.total <= before.total + 1
    assert client.counts.tasks(bk_biz_id=2, group_by="flow_type").total == before.total + 1
    with pytest.raises(InvalidParameterError):
        client.counts.tasks(bk_biz_id=2, group_by="colour")
