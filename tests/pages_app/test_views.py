"""The pages through Django's test client: login, access by role, lists, task and template pages, actions.

The runs these tests start are never executed (no worker here; the task tests' live suites
run them): what is checked is what the pages show and what they write through the services.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from tasks_app import services
from tasks_app.models import CreateMethod, TaskInstance

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def client_for(username: str, **kwargs) -> Client:
    client = Client(**kwargs)
    assert client.login(username=username, password=PASSWORD)
    return client


def make_task(people, template="scenario", name="first", creator="olivia", business=None, **kw) -> TaskInstance:
    return services.create_task(business=business or people.biz2, template=people.templates[template], name=name,
                                creator=creator, create_method=CreateMethod.APP, **kw)


def actions_in(html: str) -> set[str]:
    return set(re.findall(r'name="action" value="([a-z_]+)"', html))


# --- login and access -----------------------------------------------------------------------------------

def test_pages_need_a_login_and_the_admin_links_to_them(people):
    anonymous = Client()
    response = anonymous.get("/tasks/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/tasks/")
    status = anonymous.get("/tasks/1/status/", HTTP_ACCEPT="application/json")
    assert status.status_code == 401 and status.json()["ok"] is False
    login = anonymous.post("/login/", {"username": "olivia", "password": PASSWORD})
    assert login.status_code == 302 and login["Location"] == "/tasks/"
    wrong = Client().post("/login/", {"username": "olivia", "password": "wrong"})
    assert wrong.status_code == 200 and "did not match" in wrong.content.decode()
    admin_index = client_for("root").get("/admin/")
    assert 'href="/tasks/"' in admin_index.content.decode()


def test_a_user_of_another_business_is_refused_without_seeing_anything(people):
    task = make_task(people, name="secret release")
    mallory = client_for("mallory")
    for url in (f"/tasks/{task.pk}/", f"/templates/{people.templates['scenario'].pk}/", "/tasks/?biz=2",
                f"/tasks/{task.pk}/node/?key=wait"):
        response = mallory.get(url)
        assert response.status_code == 403, url
        body = response.content.decode()
        assert "secret release" not in body and "release with checks" not in body and "health check" not in body
    status = mallory.get(f"/tasks/{task.pk}/status/", HTTP_ACCEPT="application/json")
    assert status.status_code == 403 and set(status.json()) == {"ok", "message"}
    refused = mallory.post(f"/tasks/{task.pk}/action/", {"action": "start"}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 403
    task.refresh_from_db()
    assert not task.is_started
    assert mallory.get("/tasks/999999/").status_code == 404


def test_a_user_without_any_role_is_told_so(people):
    from django.contrib.auth import get_user_model

    user = get_user_model()(username="nobody")
    user.set_password(PASSWORD)
    user.save()
    response = client_for("nobody").get("/tasks/")
    assert response.status_code == 403 and "no role in any business" in response.content.decode()


# --- task list ----------------------------------------------------------------------------------------

def test_the_task_list_shows_one_business_with_filters_and_pages(people):
    first = make_task(people, name="alpha")
    second = make_task(people, name="beta", creator="victor")
    services.start_task(task=second, executor="olivia", source="api")
    make_task(people, template="other", name="elsewhere", creator="mallory", business=people.biz1)
    olivia = client_for("olivia")
    body = olivia.get("/tasks/").content.decode()
    assert "alpha" in body and "beta" in body and "elsewhere" not in body
    assert "运维工具" in body  # the category's display name, as the API names it
    assert "2 tasks" in body

    def names(**query) -> list[str]:
        html = olivia.get("/tasks/", query).content.decode()
        return re.findall(r'<td class="name"><a href="/tasks/\d+/">([^<]+)</a></td>', html)

    assert names(state="CREATED") == ["alpha"]
    assert names(state="EXECUTING") == ["beta"]
    assert names(state="FINISHED") == []
    assert names(creator="victor") == ["beta"]
    assert names(template=str(people.templates["scenario"].pk)) == ["beta", "alpha"]
    assert names(template=str(people.templates["child"].pk)) == []
    today = timezone.now().astimezone(people.biz2.tzinfo).date()
    assert names(created_from=today.isoformat(), created_to=today.isoformat()) == ["beta", "alpha"]
    assert names(created_from=(today + dt.timedelta(days=1)).isoformat()) == []
    assert names(created_to=(today - dt.timedelta(days=1)).isoformat()) == []
    bad = olivia.get("/tasks/", {"created_from": "yesterday"})
    assert bad.status_code == 400 and "YYYY-mm-dd" in bad.content.decode()
    assert olivia.get("/tasks/", {"state": "BOGUS"}).status_code == 400
    assert first.pk < second.pk


def test_the_task_list_is_paginated(people):
    for k in range(27):
        make_task(people, name=f"task {k:02d}")
    olivia = client_for("olivia")
    page1 = olivia.get("/tasks/").content.decode()
    page2 = olivia.get("/tasks/", {"page": 2}).content.decode()
    assert "task 26" in page1 and "task 02" in page1 and "task 01" not in page1
    assert "task 01" in page2 and "task 00" in page2 and "task 26" not in page2
    assert "Page 1 of 2" in page1 and 'rel="next"' in page1 and 'rel="prev"' in page2


def test_a_superuser_sees_every_business_and_chooses_one(people):
    make_task(people, template="other", name="in demo", creator="mallory", business=people.biz1)
    root = client_for("root")
    assert "in demo" in root.get("/tasks/", {"biz": 1}).content.decode()
    assert "in demo" not in root.get("/tasks/", {"biz": 2}).content.decode()
    assert root.get("/tasks/", {"biz": 99}).status_code == 403


# --- task page ----------------------------------------------------------------------------------------

def test_the_task_page_draws_every_node_with_its_state_and_the_header(people):
    task = make_task(people)
    response = client_for("olivia").get(f"/tasks/{task.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    keys = re.findall(r'data-key="([^"]+)" data-type', html)
    assert len(keys) == 15 and len(set(keys)) == 15  # 11 nodes + the subprocess's own 4, expanded in place
    drawn = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert drawn.count('data-state="CREATED"') == 15
    assert html.count('class="node subprocess frame"') == 1
    assert "release with checks" in html and "olivia" in html and "运维工具" in html
    assert "+0800" in html  # the business's time zone
    config = json.loads(re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html).group(1))
    assert config == {"status": f"/tasks/{task.pk}/status/", "node": f"/tasks/{task.pk}/node/", "ended": False,
                      "interval": 1000}
    for code in ("CREATED", "READY", "RUNNING", "SUSPENDED", "FAILED", "FINISHED", "REVOKED", "SKIPPED"):
        assert f'class="swatch" data-state="{code}"' in html


def test_viewers_see_no_action_and_operators_see_what_applies(people):
    task = make_task(people)
    victor_html = client_for("victor").get(f"/tasks/{task.pk}/").content.decode()
    assert actions_in(victor_html) == set() and "action-form" not in victor_html
    olivia_html = client_for("olivia").get(f"/tasks/{task.pk}/").content.decode()
    assert actions_in(olivia_html) == {"start", "pause", "resume", "revoke"}
    shown = re.findall(r'data-task-action="([a-z]+)"(?:[^>]*?)( hidden)?>', olivia_html)
    assert {code for code, hidden in shown if not hidden} == {"start"}


def test_the_status_poll_is_compact(people):
    task = make_task(people)
    olivia, victor = client_for("olivia"), client_for("victor")
    data = olivia.get(f"/tasks/{task.pk}/status/").json()
    assert data == {"state": "CREATED", "ended": False, "nodes": {}, "unreached": "CREATED",
                    "actions": ["start"], "header": {"state": "CREATED", "create_time": data["header"]["create_time"],
                                                     "start_time": "", "finish_time": "", "elapsed": "0s"}}
    assert victor.get(f"/tasks/{task.pk}/status/").json()["actions"] == []
    services.start_task(task=task, executor="olivia", source="api")
    data = olivia.get(f"/tasks/{task.pk}/status/").json()
    assert data["state"] == "RUNNING" and data["unreached"] == "READY" and data["actions"] == ["pause", "revoke"]
    assert data["header"]["start_time"].endswith("+0800")


def test_the_node_panel_shows_inputs_and_offers_nothing_before_the_start(people):
    task = make_task(people, constants={"${check}": "7"})
    html = client_for("olivia").get(f"/tasks/{task.pk}/node/", {"key": _key(task, "health check")}).content.decode()
    assert "health check" in html and "sleep_timer" in html and ">7<" in html
    assert "Not run yet." in html and actions_in(html) == set()
    nested = _key(task, "child timer 1", sub="deploy")
    assert "child timer 1" in client_for("victor").get(f"/tasks/{task.pk}/node/", {"key": nested}).content.decode()
    assert client_for("olivia").get(f"/tasks/{task.pk}/node/", {"key": "nope"}).status_code == 404


def _key(task: TaskInstance, name: str, sub: str | None = None) -> str:
    tree = task.pipeline_tree
    prefix = ""
    if sub:
        sp = next(i for i, a in tree["activities"].items() if a["name"] == sub)
        prefix, tree = sp + "/", tree["activities"][sp]["pipeline"]
    nodes = {**tree["activities"], **tree["gateways"]}
    return prefix + next(i for i, n in nodes.items() if n.get("name") == name)


# --- actions ------------------------------------------------------------------------------------------

def test_actions_go_through_the_services_and_refusals_carry_their_message(people):
    task = make_task(people)
    olivia = client_for("olivia")
    url = f"/tasks/{task.pk}/action/"
    refused = olivia.post(url, {"action": "pause"}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 409 and refused.json() == {"ok": False, "message": "task not started"}
    started = olivia.post(url, {"action": "start"}, HTTP_ACCEPT="application/json")
    assert started.json() == {"ok": True, "message": "Task: start done."}
    task.refresh_from_db()
    assert task.is_started and task.executor == "olivia"
    again = olivia.post(url, {"action": "start"}, HTTP_ACCEPT="application/json")
    assert again.json() == {"ok": False, "message": "task already started"}
    unknown = olivia.post(url, {"action": "explode"}, HTTP_ACCEPT="application/json")
    assert unknown.json()["message"] == "action[explode] is invalid"
    bad_json = olivia.post(url, {"action": "callback", "node": _key(task, "wait a moment"), "data": "{not json"},
                           HTTP_ACCEPT="application/json")
    assert bad_json.status_code == 409 and bad_json.json()["message"].startswith("callback data is not valid JSON")
    not_object = olivia.post(url, {"action": "callback", "node": _key(task, "wait a moment"), "data": "[1]"},
                             HTTP_ACCEPT="application/json")
    assert not_object.json()["message"] == "data field is not a valid object"
    # Without JavaScript a form post answers with a redirect and the message on the next page.
    plain = olivia.post(url, {"action": "pause"}, follow=True)
    assert plain.redirect_chain[-1][0] == f"/tasks/{task.pk}/" and "Task: pause done." in plain.content.decode()


def test_a_viewer_cannot_act_even_by_posting_directly(people):
    task = make_task(people)
    response = client_for("victor").post(f"/tasks/{task.pk}/action/", {"action": "start"},
                                         HTTP_ACCEPT="application/json")
    assert response.status_code == 403 and "operator role" in response.json()["message"]
    task.refresh_from_db()
    assert not task.is_started


def test_actions_and_task_creation_need_the_csrf_token(people):
    task = make_task(people)
    strict = client_for("olivia", enforce_csrf_checks=True)
    assert strict.post(f"/tasks/{task.pk}/action/", {"action": "start"}).status_code == 403
    create = f"/templates/{people.templates['scenario'].pk}/create-task/"
    assert strict.post(create, {"name": "x"}).status_code == 403
    task.refresh_from_db()
    assert not task.is_started and TaskInstance.objects.count() == 1
    page = strict.get(f"/tasks/{task.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    ok = strict.post(f"/tasks/{task.pk}/action/", {"action": "start", "csrfmiddlewaretoken": token},
                     HTTP_ACCEPT="application/json")
    assert ok.json()["ok"] is True


def test_retry_inputs_keep_their_types():
    from django.http import QueryDict

    from pages_app import actions
    from sops_common.errors import InvalidInput

    post = QueryDict(mutable=True)
    post.update({"input:a": "text", "kind:input:a": "text", "input:b": '{"x": [1, 2]}', "kind:input:b": "json",
                 "input:c": "3", "kind:input:c": "json", "other": "ignored"})
    assert actions.prefixed_values(post, "input", "input") == {"a": "text", "b": {"x": [1, 2]}, "c": 3}
    post["input:c"] = "3,"
    with pytest.raises(InvalidInput, match="input c is not valid JSON"):
        actions.prefixed_values(post, "input", "input")


def test_actions_offered_follow_the_node_type_and_state():
    from pages_app.actions import node_actions, task_actions

    def codes(node, state, task_state="RUNNING", may=True):
        return [a.code for a in node_actions(node, state=state, task_state=task_state, may_operate=may)]

    activity = {"type": "ServiceActivity"}
    assert codes(activity, "FAILED") == ["retry", "skip"]
    assert codes({**activity, "skippable": False, "retryable": False}, "FAILED") == []
    assert codes(activity, "RUNNING") == ["callback", "forced_fail"]
    assert codes(activity, "FINISHED") == []
    assert codes(activity, "FAILED", may=False) == []
    assert codes(activity, "FAILED", task_state="REVOKED") == []
    assert codes({"type": "ExclusiveGateway"}, "FAILED") == ["retry", "skip_exg"]
    assert codes({"type": "SubProcess"}, "RUNNING") == ["pause_subproc"]
    assert codes({"type": "SubProcess"}, "SUSPENDED") == ["resume_subproc"]
    assert [a.code for a in task_actions(state="SUSPENDED", started=True, may_operate=True)] == ["resume", "revoke"]
    assert [a.code for a in task_actions(state="FINISHED", started=True, may_operate=True)] == []
    assert task_actions(state="CREATED", started=False, may_operate=False) == []


# --- templates ----------------------------------------------------------------------------------------

def test_the_template_page_draws_the_tree_with_its_constants(people):
    template = people.templates["scenario"]
    html = client_for("victor").get(f"/templates/{template.pk}/").content.decode()
    assert "release with checks" in html and "wait seconds" in html and "${env}" in html
    keys = re.findall(r'data-key="([^"]+)" data-type', html)
    assert len(keys) == 15  # the subprocess's template is unfolded for the drawing
    assert "data-state" not in html.split('<svg', 1)[1].split("</svg>")[0]
    assert "Create a task" not in html  # a viewer cannot create
    node = client_for("victor").get(f"/templates/{template.pk}/node/", {"key": "route"}).content.decode()
    assert "prod → notify prod" in node and "not prod → done" in node
    assert client_for("mallory").get(f"/templates/{template.pk}/").status_code == 403


def test_creating_a_task_from_the_template_page(people):
    template = people.templates["scenario"]
    olivia = client_for("olivia")
    html = olivia.get(f"/templates/{template.pk}/").content.decode()
    assert "Create a task" in html and 'name="const:${wait}"' in html and 'value="done"' in html
    response = olivia.post(f"/templates/{template.pk}/create-task/", {
        "name": "from the page", "const:${wait}": "5", "kind:const:${wait}": "text", "exclude": ["done"]})
    task = TaskInstance.objects.get(name="from the page")
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.pk}/"
    assert task.creator == "olivia" and task.create_method == CreateMethod.APP and task.business == people.biz2
    assert task.pipeline_tree["constants"]["${wait}"]["value"] == "5"
    assert "done" not in {a["name"] for a in task.pipeline_tree["activities"].values()}


def test_a_refused_creation_shows_the_service_message_and_creates_nothing(people):
    template = people.templates["scenario"]
    olivia = client_for("olivia")
    response = olivia.post(f"/templates/{template.pk}/create-task/",
                           {"name": "", "const:${wait}": "9", "kind:const:${wait}": "text"})
    html = response.content.decode()
    assert response.status_code == 400 and "name must be a string of 1 to 100 characters" in html
    assert 'name="const:${wait}" value="9"' in html  # what was typed comes back
    bad = olivia.post(f"/templates/{template.pk}/create-task/", {"name": "x", "exclude": ["wait"]})
    assert bad.status_code == 400 and "wait" in bad.content.decode()
    assert TaskInstance.objects.count() == 0
    viewer = client_for("victor").post(f"/templates/{template.pk}/create-task/", {"name": "x"})
    assert viewer.status_code == 403 and TaskInstance.objects.count() == 0


def test_a_common_template_creates_in_a_business_the_user_operates(people):
    common = people.templates["common"]
    olivia = client_for("olivia")
    assert '<option value="2">2 blueking</option>' in olivia.get(f"/templates/{common.pk}/").content.decode()
    refused = olivia.post(f"/templates/{common.pk}/create-task/", {"name": "x", "biz": "1"})
    assert refused.status_code == 403 and TaskInstance.objects.count() == 0
    created = olivia.post(f"/templates/{common.pk}/create-task/", {"name": "common run", "biz": "2"})
    task = TaskInstance.objects.get(name="common run")
    assert created.status_code == 302 and task.business == people.biz2 and task.template_source == "common"


def test_the_template_list_shows_business_and_common_templates(people):
    html = client_for("victor").get("/templates/").content.decode()
    assert "release with checks" in html and "common timers" in html and "other business" not in html


def test_a_pasted_tree_is_checked_and_drawn_before_importing_it(people):
    from tests.support import task_trees

    viewer = client_for("victor")
    assert "Check and draw" in viewer.get("/templates/preview/").content.decode()
    good = viewer.post("/templates/preview/", {"tree": json.dumps(
        {"name": "imported", "pipeline_tree": task_trees.timer_then_pause("1")})})
    html = good.content.decode()
    assert good.status_code == 200 and "The tree is valid" in html and "定时时间" in html
    assert len(re.findall(r'data-key="([^"]+)" data-type', html)) == 4
    broken = task_trees.timer_then_pause("1")
    broken["activities"]["pause"]["component"]["code"] = "no_such_component"
    bad = viewer.post("/templates/preview/", {"tree": json.dumps(broken)}).content.decode()
    assert "pipeline_tree is invalid" in bad and "no_such_component" in bad and "The tree is valid" not in bad
    assert len(re.findall(r'data-key="([^"]+)" data-type', bad)) == 4  # drawn all the same, to see what is wrong
    not_json = viewer.post("/templates/preview/", {"tree": "{oops"})
    assert not_json.status_code == 400 and "not JSON" in not_json.content.decode()
    assert viewer.post("/templates/preview/?biz=1", {"tree": "{}"}).status_code == 403


def test_a_pasted_tree_too_deep_or_over_the_budget_is_refused_with_a_message(people):
    """JSON nested past the API's limit was a RecursionError in the page's parser (a 500)."""
    from tests.support import task_trees

    viewer = client_for("victor")
    deep = viewer.post("/templates/preview/", {"tree": "[" * 100_000 + "]" * 100_000})
    assert deep.status_code == 400 and "the text is nested deeper than 64 levels" in deep.content.decode()
    nested = viewer.post("/templates/preview/", {"tree": json.dumps(task_trees.inline_nest(9))})
    html = nested.content.decode()
    assert nested.status_code == 200 and "nests subprocesses 9 levels deep" in html and "The tree is valid" not in html
