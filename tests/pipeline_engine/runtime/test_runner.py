"""The component runner (runtime/runner.py) in a live worker: claims fence duplicates, branches
run side by side, running work is told to stop and its late result is dropped."""
from __future__ import annotations

import time

import pytest

from pipeline_engine import api
from pipeline_engine.core.components import Component, Outcome, register, unregister
from pipeline_engine.errors import InvalidOperation
from pipeline_engine.runtime import runner
from pipeline_engine.runtime.models import NodeHistory, NodeState, Run
from pipeline_engine.runtime.step import step
from tests.conftest import wait_for
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import TreeBuilder, linear


@pytest.fixture
def in_this_transaction(monkeypatch):
    """Run the runner inside the test's transaction: its end-of-task connection hygiene
    (close_old_connections, for a worker process) would close the test's connection."""
    monkeypatch.setattr(runner, "close_old_connections", lambda: None)


def walked(tree: dict) -> str:
    run_id = api.run_pipeline(tree)
    step(run_id, lambda w: None)
    return run_id


@pytest.mark.django_db
def test_a_message_runs_its_component_once_and_reports_in_a_step(in_this_transaction):
    run_id = walked(linear(1, "bench_poll"))
    node = runs.node(run_id, "n0")
    assert node.state == "RUNNING" and node.phase == "execute"
    runner.run_component(run_id, node.key, node.version, 0, "UTC", "")
    node.refresh_from_db()
    # bench_poll asked to be polled at once: served in the same call, then it succeeded.
    assert node.state == "FINISHED" and node.schedule_count == 1 and node.lease_until is None
    assert api.get_run_summary(run_id).state == "FINISHED"
    runner.run_component(run_id, node.key, node.version, 0, "UTC", "")  # the same message again: stale
    assert runs.node(run_id, "n0").finished_at == node.finished_at


@pytest.mark.django_db
def test_work_of_a_component_this_worker_lacks_is_handed_back(in_this_transaction):
    @register
    class Elsewhere(Component):
        code = "test_runner_elsewhere"

        def execute(self, ctx):
            return Outcome.success()

    try:
        run_id = walked(linear(1, "test_runner_elsewhere"))
    finally:
        unregister("test_runner_elsewhere")
    node = runs.node(run_id, "n0")
    runner.run_component(run_id, node.key, node.version, 0, None, None)
    node.refresh_from_db()
    assert node.state == "RUNNING" and node.lease_until is None and node.wake_at is not None  # due again




@pytest.mark.worker
def test_parallel_branches_really_overlap(transactional_db, celery_worker_proc, tmp_path):
    marker = tmp_path / "marks"
    b = TreeBuilder()
    pg, cg = b.gw("pg", "ParallelGateway"), b.gw("cg", "ConvergeGateway")
    b.act("s1", "test_sleep", {"seconds": 1.0, "marker": str(marker)})
    b.act("s2", "test_sleep", {"seconds": 1.0, "marker": str(marker)})
    b.chain(b.start_id, pg)
    b.chain(pg, "s1", cg)
    b.chain(pg, "s2", cg)
    b.chain(cg, b.end_id)
    run_id = api.run_pipeline(b.build())
    runs.wait_state(run_id, "FINISHED")
    marks = {(kind, node): at for kind, node, at in runs.marks(marker)}
    assert max(marks[("start", "s1")], marks[("start", "s2")]) < min(marks[("end", "s1")], marks[("end", "s2")])
    assert runs.node(run_id, "cg").loop == 1


@pytest.mark.worker
def test_forced_fail_stops_the_work_and_drops_its_late_result(transactional_db, celery_worker_proc, tmp_path):
    marker = tmp_path / "marks"
    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 20, "marker": str(marker)})
    b.chain(b.start_id, "s", b.end_id)
    run_id = api.run_pipeline(b.build())
    wait_for(lambda: any(k == "start" for k, _, _ in runs.marks(marker)))
    api.forced_fail(run_id, "s", "terminated by alice")
    wait_for(lambda: any(k == "stop" for k, _, _ in runs.marks(marker)), timeout=10,
             message="the component to be told to stop")
    time.sleep(0.5)
    node = runs.node(run_id, "s")
    assert node.state == "FAILED" and node.ex_data == "terminated by alice"  # late "stopped" result dropped
    assert api.get_status_tree(run_id)["state"] == "FAILED"
    with pytest.raises(InvalidOperation):
        api.forced_fail(run_id, "s")


@pytest.mark.worker
def test_duplicate_messages_do_not_double_count_the_converge(transactional_db, celery_worker_proc):
    """bamboo-engine PR #276: a redelivered child message counted twice at the join."""
    from pipeline_engine.runtime import dispatch

    b = TreeBuilder()
    pg, cg = b.gw("pg", "ParallelGateway"), b.gw("cg", "ConvergeGateway")
    for i in range(3):
        b.act(f"s{i}", "test_sleep", {"seconds": 0.6 + 0.2 * i})
        b.chain(pg, f"s{i}", cg)
    b.act("after", "noop")
    b.chain(b.start_id, pg)
    b.chain(cg, "after", b.end_id)
    run_id = api.run_pipeline(b.build())
    wait_for(lambda: NodeState.objects.filter(run_id=run_id, state="RUNNING", node_type="ServiceActivity").count() == 3)
    running = list(NodeState.objects.filter(run_id=run_id, node_type="ServiceActivity"))
    for _ in range(3):  # every message delivered again, several times
        for node in running:
            dispatch.send_component(run_id, node.key, node.version, 0)
        dispatch.send_advance(run_id)
    runs.wait_state(run_id, "FINISHED")
    time.sleep(1.0)  # let the duplicates land
    for node in running:
        dispatch.send_component(run_id, node.key, node.version, 0)
        dispatch.send_component(run_id, node.key, node.version, 1)
    time.sleep(1.0)
    assert runs.node(run_id, "cg").loop == 1 and runs.node(run_id, "after").loop == 1
    assert not NodeHistory.objects.filter(run_id=run_id).exists()
    assert Run.objects.get(pk=run_id).frontier["joins"] == {}
