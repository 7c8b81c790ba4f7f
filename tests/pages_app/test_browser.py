"""The operator pages in headless Chromium, against a live server and a real Celery worker.

The scenario: log in; open a template and create a task from it; start it and watch its nodes
change colour without a reload; open the failed node, retry it with edited inputs and see the
task finish; pause, resume and revoke a task; a viewer sees no action, and a user of another
business is refused. Screenshots go to var/screenshots/ (CI keeps them), and the first paint of
a 1,000-node task is measured with the browser's Performance API.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from tasks_app.models import TaskInstance
from tests.conftest import wait_for

from .conftest import PASSWORD, SCREENSHOTS

pytestmark = [pytest.mark.worker, pytest.mark.browser]

RUN_TIMEOUT_MS = 40_000  # a state change the worker makes: generous, the machine is shared


@pytest.fixture
def site(live_server, live_people, celery_worker_proc, browser):
    """The live server's URL, its world, and a fresh browser context per user."""
    contexts = []

    def open_as(username: str):
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server.url + "/tasks/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click(".login button[type=submit]")
        page.wait_for_url(re.compile(r"/tasks/(\?.*)?$"))
        return page

    yield live_server.url, live_people, open_as
    for context in contexts:
        context.close()


def node(page, name: str):
    return page.locator(f'#graph .node[data-label^="{name},"]')


def expect_state(page, name: str, state: str, timeout: int = RUN_TIMEOUT_MS) -> None:
    page.wait_for_function(
        "([name, state]) => { const n = document.querySelector(`#graph .node[data-label^=\"${name},\"]`);"
        " return n && n.dataset.state === state; }", arg=[name, state], timeout=timeout)


def expect_task_state(page, state: str, timeout: int = RUN_TIMEOUT_MS) -> None:
    page.wait_for_function("(state) => document.body.dataset.taskState === state", arg=state, timeout=timeout)


def create_from_template(page, base: str, template_id: int, name: str, **constants: str) -> int:
    page.goto(f"{base}/templates/{template_id}/")
    page.fill("#create-name", name)
    for key, value in constants.items():
        page.fill(f'[name="const:${{{key}}}"]', value)
    page.click(".create-form button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/\d+/$"))
    return int(re.search(r"/tasks/(\d+)/$", page.url).group(1))


def status_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/status/" in r.url else None)
    return seen


def test_an_operator_runs_a_task_from_its_template_and_retries_a_failed_node(site):
    base, people, open_as = site
    page = open_as("olivia")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 2. the template, drawn with its constants; a task from it
    page.click("nav >> text=Templates")
    page.click("text=release with checks")
    assert node(page, "deploy").count() == 1 and page.locator("#graph .node").count() == 15
    assert page.locator(".constants").inner_text().count("${") == 3
    node(page, "route").click()
    page.locator("#node-panel h2", has_text="route").wait_for()
    assert "prod → notify prod" in page.locator("#node-panel").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "template.png"), full_page=True)
    task_id = create_from_template(page, base, people.templates["scenario"].pk, "release 1",
                                   wait="2", check="not a number")
    assert page.locator("#task-title").inner_text().startswith("release 1")
    assert node(page, "health check").get_attribute("data-state") == "CREATED"

    # 3. start; nodes change colour while the page stays the same document
    page.evaluate("window.__sameDocument = 'yes'")
    page.click('[data-task-action="start"] button')
    expect_state(page, "wait a moment", "RUNNING")
    assert page.locator('[data-field="state"]').inner_text() == "RUNNING"
    assert node(page, "wait a moment").get_attribute("aria-label") == "wait a moment, activity, RUNNING"
    page.screenshot(path=str(SCREENSHOTS / "task-running.png"), full_page=True)
    expect_state(page, "health check", "FAILED")
    expect_task_state(page, "FAILED")
    expect_state(page, "child timer 2", "FINISHED")
    page.screenshot(path=str(SCREENSHOTS / "task-failed.png"), full_page=True)

    # 4. the failed node: its error, a retry with an edited input, and the task finishes
    node(page, "health check").click()
    panel = page.locator("#node-panel")
    panel.locator("h2", has_text="health check").wait_for()
    assert "Timer input is invalid" in panel.locator(".ex-data").inner_text()
    assert panel.locator('[data-node-action="skip"]').count() == 1
    assert panel.locator('[name="input:bk_timing"]').input_value() == "not a number"
    page.screenshot(path=str(SCREENSHOTS / "task-failed-node.png"), full_page=True)
    panel.locator('[name="input:bk_timing"]').fill("0")
    panel.locator('[data-node-action="retry"] button').click()
    page.wait_for_function("() => document.getElementById('action-status').textContent.includes('retry')")
    assert page.locator("#action-status").inner_text() == "Node: retry with these inputs done."
    expect_task_state(page, "FINISHED")
    for name, state in (("health check", "FINISHED"), ("done", "FINISHED"), ("notify prod", "READY"),
                        ("deploy", "FINISHED"), ("route", "FINISHED")):
        assert node(page, name).get_attribute("data-state") == state, name
    assert page.locator('[data-field="finish_time"]').inner_text().endswith("+0800")
    # the panel follows the node: two attempts now, the failed one and the one that finished
    page.locator('#node-panel .node-detail[data-state="FINISHED"]').wait_for()
    assert page.locator("#node-panel table.attempts tbody tr:not(.attempt-error)").count() == 2
    assert page.locator("#node-panel table.attempts").inner_text().count("FAILED") == 1
    assert page.evaluate("window.__sameDocument") == "yes"  # never reloaded
    assert page.locator(".task-actions form:not([hidden])").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "task-finished.png"), full_page=True)

    # a finished task stops asking
    polls = status_requests(page)
    time.sleep(2.5)
    assert polls == []
    wait_for(lambda: TaskInstance.objects.get(pk=task_id).is_finished, message="task finished in the database")
    assert errors == []


def test_an_operator_pauses_resumes_and_revokes_and_sees_refusals(site):
    base, people, open_as = site
    page = open_as("olivia")
    create_from_template(page, base, people.templates["scenario"].pk, "long release", wait="60")
    page.click('[data-task-action="start"] button')
    expect_state(page, "wait a moment", "RUNNING")
    page.click('[data-task-action="pause"] button')
    expect_task_state(page, "SUSPENDED")
    assert page.locator('[data-task-action="pause"]').is_hidden()
    assert page.locator("#action-status").inner_text() == "Task: pause done."
    page.click('[data-task-action="resume"] button')
    expect_task_state(page, "RUNNING")

    # revoking asks first: dismissed, nothing happens
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click('[data-task-action="revoke"] button')
    time.sleep(1.5)
    assert page.evaluate("document.body.dataset.taskState") == "RUNNING"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('[data-task-action="revoke"] button')
    expect_task_state(page, "REVOKED")
    expect_state(page, "wait a moment", "REVOKED")

    # an action the service refuses shows the service's own message
    page.evaluate("document.querySelector('[data-task-action=\"resume\"]').hidden = false")
    page.click('[data-task-action="resume"] button')
    page.wait_for_function("() => document.getElementById('action-status').classList.contains('error')")
    message = page.locator("#action-status").inner_text()
    assert "REVOKED" in message and "can not resume" in message


def test_a_viewer_sees_no_action_and_another_business_is_refused(site):
    base, people, open_as = site
    olivia = open_as("olivia")
    task_id = create_from_template(olivia, base, people.templates["scenario"].pk, "watched release", wait="0",
                                   check="not a number")
    olivia.click('[data-task-action="start"] button')
    expect_task_state(olivia, "FAILED")

    viewer = open_as("victor")
    viewer.goto(f"{base}/tasks/{task_id}/")
    assert viewer.locator("#graph .node").count() == 15
    assert viewer.locator(".action-form").count() == 0 and viewer.locator(".task-actions").count() == 0
    node(viewer, "health check").click()
    viewer.locator("#node-panel h2", has_text="health check").wait_for()
    assert "Timer input is invalid" in viewer.locator("#node-panel").inner_text()
    assert viewer.locator("#node-panel form").count() == 0
    # keyboard: Tab into the graph, move with the arrows, open with Enter
    node(viewer, "start").first.focus()  # the task's own start; the subprocess has one too
    viewer.keyboard.press("ArrowRight")
    assert viewer.evaluate("document.activeElement.dataset.label") == "wait a moment, activity"
    viewer.keyboard.press("Enter")
    viewer.locator("#node-panel h2", has_text="wait a moment").wait_for()
    # a forged POST is refused by the server
    token = viewer.locator('input[name="csrfmiddlewaretoken"]').first.input_value()
    answer = viewer.request.post(f"{base}/tasks/{task_id}/action/", headers={"Accept": "application/json"},
                                 form={"action": "revoke", "csrfmiddlewaretoken": token})
    assert answer.status == 403 and "operator role" in answer.json()["message"]
    assert not TaskInstance.objects.get(pk=task_id).is_revoked

    stranger = open_as("mallory")
    response = stranger.goto(f"{base}/tasks/{task_id}/")
    assert response.status == 403
    body = stranger.locator("main").inner_text()
    assert "Access refused" in body and "watched release" not in body and "health check" not in body
    assert stranger.goto(f"{base}/templates/{people.templates['scenario'].pk}/").status == 403


def test_first_paint_of_a_task_of_a_thousand_nodes(site):
    """Measured, not timed: the figures are printed and written to var/screenshots/first-paint-1000.json."""
    from tasks_app import selectors, services
    from tasks_app.models import CreateMethod
    from templates_app.services import create_template

    from . import trees

    base, people, open_as = site
    template = create_template(name="a thousand nodes", pipeline_tree=trees.wide(100, 8), creator="olivia",
                               business=people.biz2)
    waiting = services.create_task(business=people.biz2, template=template, name="big, not started",
                                   creator="olivia", create_method=CreateMethod.APP)
    done = services.create_task(business=people.biz2, template=template, name="big, finished",
                                creator="olivia", create_method=CreateMethod.APP)
    services.start_task(task=done, executor="olivia", source="api")
    wait_for(lambda: selectors.task_node_states(TaskInstance.objects.get(pk=done.pk))["state"] == "FINISHED",
             timeout=120, interval=0.5, message="the 1,002-node task to finish")
    page = open_as("olivia")
    figures = {}
    for label, task in (("created", waiting), ("finished", done)):
        for attempt in range(2):  # the second load shows the cost without a cold cache
            page.goto(f"{base}/tasks/{task.pk}/", wait_until="load")
            page.wait_for_function("() => performance.getEntriesByName('graph-ready').length === 1")
            # paint entries are queued after the frame is shown, which can come after `load` on a busy machine
            page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length === 1")
            timing = page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                return {response_end_ms: nav.responseEnd, first_contentful_paint_ms: fcp ? fcp.startTime : null,
                        graph_ready_ms: performance.getEntriesByName('graph-ready')[0].startTime,
                        load_ms: nav.loadEventEnd, html_bytes: nav.transferSize,
                        nodes: document.querySelectorAll('#graph .node').length};
            }""")
            figures[f"{label}#{attempt + 1}"] = timing
        assert timing["nodes"] == 1002
        assert timing["first_contentful_paint_ms"] is not None
        expected = "FINISHED" if label == "finished" else "CREATED"
        assert page.locator(f'#graph .node[data-state="{expected}"]').count() == 1002
    # the status poll of the finished 1,002-node task: its cost and size on the wire
    poll = page.evaluate("""async (url) => {
        const t0 = performance.now();
        const r = await fetch(url, {headers: {Accept: 'application/json'}, cache: 'no-store'});
        const data = await r.json();
        const took = performance.now() - t0;
        const entry = performance.getEntriesByName(new URL(url, location.href).href).pop();
        return {ms: took, nodes: Object.keys(data.nodes).length, wire_bytes: entry ? entry.encodedBodySize : null,
                json_bytes: JSON.stringify(data).length};
    }""", f"/tasks/{done.pk}/status/")
    assert poll["nodes"] == 1002  # every node reached, events included
    figures["status_poll"] = poll
    # a node's panel opens while the page holds 1,000 nodes
    started = time.perf_counter()
    node(page, "step 50.3").click()
    page.locator("#node-panel h2", has_text="step 50.3").wait_for()
    figures["panel_open_ms"] = round((time.perf_counter() - started) * 1000, 1)
    page.screenshot(path=str(SCREENSHOTS / "task-1000-nodes.png"))
    (SCREENSHOTS / "first-paint-1000.json").write_text(json.dumps(figures, indent=2))
    print("\nfirst paint of a 1,002-node task page (ms):", json.dumps(figures, indent=2))
    # Generous on purpose (a shared 2-core machine): catches a page that stops being usable, not noise.
    assert all(f["graph_ready_ms"] < 30_000 for k, f in figures.items() if "#" in k)
