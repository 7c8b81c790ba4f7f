"""While the broker is down, every endpoint that commits and then publishes answers what the database says.

Each such endpoint (start_task, create_and_start_task, operate_task, operate_node, node_callback)
and the periodic firing is called through the live HTTP API (the scheduler's tick, for the
firing) while the broker cannot take a message. What the run's rows say was committed is the
answer: success, with a warning in the log; the message is lost, and the engine's sweep sends
it again once the broker is back. The test then brings the broker back and waits for a real
worker to finish every run.

Two brokers, two outages:

- Redis: a redis-server of the test's own (never the machine's shared one) is SIGKILLed and
  later started again, empty, on the same port.
- the embedded filesystem broker: its message folder is taken away (renamed, and a plain file
  put in its place, so nothing can be written into it: a disk gone or full); later it is put back.

Before the change, the first publish after the commit raised out of the on-commit hook and the
request answered 3599999 ("unexpected error") for a start that had happened.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import FaultsEnv, own_redis
from tests.support import task_trees as trees
from tests.support.live_http import Http, node_id_of
from tests.support.task_world import make_template, make_world

pytestmark = [pytest.mark.worker]

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
# A request that meets a dead broker waits for Celery's publish retries, not for a timeout.
ANSWER_WITHIN_S = 10.0


def quick_tree() -> dict[str, Any]:
    b = trees.TreeBuilder()
    b.act(trees.timer("t0", "0"))
    b.chain("start", "t0", "end")
    return b.build()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, diagnostics: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} not reached in {timeout}s\n{diagnostics()}")


def unsent() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("sops_engine_messages_unsent_total", {"reason": "broker"}) or 0.0


def run_state(task_id: int) -> str:
    from pipeline_engine import api
    from tasks_app.models import TaskInstance

    task = TaskInstance.objects.get(pk=task_id)
    if not task.run_id:
        return "NOT STARTED"
    return api.get_run_summary(task.run_id).state


def node_state(task_id: int, node_id: str) -> dict[str, Any]:
    from pipeline_engine import api
    from tasks_app.models import TaskInstance

    return api.get_node_detail(TaskInstance.objects.get(pk=task_id).run_id, node_id)


def outage_scenario(faults: FaultsEnv, http: Http, down: Callable[[], None], up: Callable[[], None]) -> None:
    """Set up runs in each state, break the broker, call every publishing endpoint, check, mend, finish."""
    from periodic_app.cron import parse_cron
    from periodic_app.models import PeriodicTaskHistory
    from periodic_app.scheduler import tick
    from periodic_app.services import create_periodic_task
    from tasks_app.models import TaskInstance

    world = make_world()
    quick = make_template(12, "quick", quick_tree(), world.biz2)
    logs = faults.logs

    def created(template_id: int, name: str) -> tuple[int, str]:
        answer = http.post(f"create_task/{template_id}/2/", {"name": name, "constants": {"${bk_timing}": "0"}})
        assert answer["result"], answer
        return answer["data"]["task_id"], node_id_of(answer["data"]["pipeline_tree"], "pause_node") \
            if template_id == 10 else ""

    def started(name: str) -> tuple[int, str]:
        task_id, pause = created(10, name)
        assert http.post(f"start_task/{task_id}/2/")["result"]
        wait_until(lambda: node_state(task_id, pause).get("state") == "RUNNING", 30,
                   f"{name}: the pause node waiting", logs)
        return task_id, pause

    # Runs in the states each endpoint acts on, made while the broker works.
    to_callback, cb_node = started("callback me")
    to_skip, skip_node = started("skip me")
    assert http.post(f"operate_node/2/{to_skip}/", {"node_id": skip_node, "action": "forced_fail"})["result"]
    wait_until(lambda: node_state(to_skip, skip_node).get("state") == "FAILED", 10, "forced_fail", logs)
    to_pause, pause_node = started("pause and resume me")
    to_operate_cb, operate_cb_node = started("operate_node callback me")
    not_started, _ = created(quick.pk, "start me")
    periodic = create_periodic_task(business=world.biz2, template=quick, name="every minute",
                                    cron=parse_cron({}),
                                    creator="alice", enabled=True)
    type(periodic).objects.filter(pk=periodic.pk).update(
        next_run_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))

    unsent_before = unsent()
    down()
    answers: dict[str, Any] = {}
    seconds: dict[str, float] = {}

    def call(label: str, fn: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        try:
            answers[label] = fn()
        except Exception as exc:  # noqa: BLE001 - reported in the table below
            answers[label] = f"raised {exc.__class__.__name__}: {exc}"
        seconds[label] = round(time.monotonic() - t0, 2)
        return answers[label]

    try:
        call("start_task", lambda: http.post(f"start_task/{not_started}/2/"))
        call("create_and_start_task", lambda: http.post(f"create_and_start_task/{quick.pk}/2/", {"name": "both"}))
        call("node_callback", lambda: http.post(f"node_callback/{to_callback}/2/",
                                                {"node_id": cb_node, "callback_data": {"while": "down"}}))
        call("operate_node skip", lambda: http.post(f"operate_node/2/{to_skip}/",
                                                    {"node_id": skip_node, "action": "skip"}))
        call("operate_node callback", lambda: http.post(f"operate_node/2/{to_operate_cb}/",
                                                        {"node_id": operate_cb_node, "action": "callback",
                                                         "data": {"via": "operate_node"}}))
        call("operate_task pause", lambda: http.post(f"operate_task/{to_pause}/2/", {"action": "pause"}))
        call("operate_task resume", lambda: http.post(f"operate_task/{to_pause}/2/", {"action": "resume"}))
        firings = call("periodic firing", lambda: tick())
    finally:
        up()

    table = "\n".join(f"  {label:24} {seconds[label]:5.2f}s {str(answer)[:160]}" for label, answer in answers.items())
    print(f"\nanswers while the broker was down:\n{table}")
    api_answers = {k: v for k, v in answers.items() if k != "periodic firing"}
    assert all(isinstance(a, dict) and a.get("result") is True and a.get("code") == 0
               for a in api_answers.values()), f"dishonest answers:\n{table}"
    # The outage was real: messages were refused (and counted), not delivered.
    assert unsent() > unsent_before
    assert isinstance(firings, list) and len(firings) == 1 and firings[0].success, f"periodic firing:\n{table}"
    slow = {label: s for label, s in seconds.items() if s > ANSWER_WITHIN_S}
    assert not slow, f"answers took too long while the broker was down: {slow}"

    # Each answer is what the database says happened.
    started_task = TaskInstance.objects.get(pk=not_started)
    assert started_task.is_started and started_task.run_id and run_state(not_started) != "NOT STARTED"
    both = TaskInstance.objects.get(pk=answers["create_and_start_task"]["data"]["task_id"])
    assert both.is_started and both.run_id
    history = PeriodicTaskHistory.objects.get(periodic_task=periodic)
    assert history.success and history.task_id == firings[0].task_id
    fired = TaskInstance.objects.get(pk=history.task_id)
    assert fired.is_started and fired.run_id
    assert node_state(to_skip, skip_node)["skip"] is True
    assert run_state(to_pause) == "RUNNING"  # paused, then resumed
    assert node_state(to_callback, cb_node)["state"] in ("RUNNING", "FINISHED")

    # The broker is back: the work that was committed while it was down finishes.
    assert http.post(f"node_callback/{to_pause}/2/", {"node_id": pause_node, "callback_data": {}})["result"]
    everything = [not_started, both.pk, fired.pk, to_callback, to_skip, to_pause, to_operate_cb]
    wait_until(lambda: all(run_state(t) == "FINISHED" for t in everything), 90,
               "every run FINISHED after the broker came back",
               lambda: f"{ {t: run_state(t) for t in everything} }\n{logs()}")
    assert node_state(to_callback, cb_node)["outputs"]
    assert all(worker.alive() for worker in faults.workers), f"a worker did not survive the outage\n{logs()}"


@pytest.fixture
def http(live_server: Any) -> Http:
    return Http(live_server.url, CREDS)




def test_redis_down_every_publishing_endpoint_answers_what_was_committed(faults: FaultsEnv, http: Http) -> None:
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("the embedded mode has no Redis: test_embedded_broker_down_... covers its broker")
    with own_redis(faults, "redis-outage.log") as server:
        faults.start_worker("a", broker_url=server.url)

        def down() -> None:
            server.kill()

        def up() -> None:
            server.start()

        outage_scenario(faults, http, down, up)


def test_embedded_broker_down_every_publishing_endpoint_answers_what_was_committed(
        faults: FaultsEnv, http: Http) -> None:
    if not faults.broker_url.startswith("filesystem://"):
        pytest.skip("needs the embedded filesystem broker (no CELERY_BROKER_URL)")
    folder = Path(faults.broker_options["data_folder_in"])
    away = folder.with_name(folder.name + ".away")
    faults.start_worker("a")

    def down() -> None:
        os.replace(folder, away)
        folder.write_text("the broker's folder is gone\n")

    def up() -> None:
        folder.unlink()
        if folder.exists():  # pragma: no cover - defensive
            shutil.rmtree(folder)
        os.replace(away, folder)

    outage_scenario(faults, http, down, up)
