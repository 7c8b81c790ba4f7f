"""The sweep (runtime/reaper.py): lost messages are sent again, deadlines fail their nodes."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from pipeline_engine import api
from pipeline_engine.runtime.models import NodeState, Run
from pipeline_engine.runtime.step import step
from tests.conftest import wait_for
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import TreeBuilder, linear


def walked(tree: dict) -> str:
    """A run started and walked in this process (the messages the sweep sends find no such run)."""
    run_id = api.run_pipeline(tree)
    step(run_id, lambda w: None)
    return run_id


@pytest.mark.django_db
def test_one_pass_counts_what_it_acted_on(settings):
    settings.SOPS_REAPER_LEASE_SECONDS = 5
    settings.SOPS_ENGINE_START_WALK_MS = 0  # the start leaves its first step to a worker: an advance is owed
    assert api.sweep() == {"timers": 0, "leases": 0, "timeouts": 0, "runs": 0}
    owed = api.run_pipeline(linear(1))  # started, its first advance not taken yet
    assert api.sweep() == {"timers": 0, "leases": 0, "timeouts": 0, "runs": 0}  # its lease holds
    later = timezone.now() + timedelta(seconds=6)
    assert api.sweep(later) == {"timers": 0, "leases": 0, "timeouts": 0, "runs": 1}
    assert Run.objects.get(pk=owed).lease_until > later  # not sent again before another lease passed

    b = TreeBuilder()
    b.act("slow", "bench_poll", timeout=1)
    b.chain(b.start_id, "slow", b.end_id)
    timed = walked(b.build())
    # The step re-checks the deadline with its own clock: let it really pass.
    NodeState.objects.filter(run_id=timed, node_id="slow").update(deadline=timezone.now() - timedelta(seconds=1))
    counts = api.sweep(timezone.now() + timedelta(seconds=3))
    assert counts["timers"] == 1 and counts["timeouts"] == 1  # its work re-sent, then its deadline passed
    node = runs.node(timed, "slow")
    assert node.state == "FAILED" and "timed out after 1 seconds" in node.ex_data




@pytest.mark.worker
def test_lost_start_message_is_recovered_by_the_reaper(transactional_db, celery_worker_proc, engine_sweeper,
                                                        settings, monkeypatch):
    from pipeline_engine.runtime import dispatch

    settings.SOPS_REAPER_LEASE_SECONDS = 1
    settings.SOPS_ENGINE_START_WALK_MS = 0  # the first step is a worker's, so a start message is owed
    real_send = dispatch.send_advance
    monkeypatch.setattr(dispatch, "send_advance", lambda *a, **kw: None)  # the broker "loses" it
    run_id = api.run_pipeline(linear(3))
    time.sleep(0.3)
    assert runs.state(run_id) == "RUNNING"
    monkeypatch.setattr(dispatch, "send_advance", real_send)  # the sweep's own message gets through
    runs.wait_state(run_id, "FINISHED", timeout=20)


@pytest.mark.worker
def test_timeout_fails_the_node_and_stops_it(transactional_db, celery_worker_proc, engine_sweeper, tmp_path):
    marker = tmp_path / "marks"
    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 20, "marker": str(marker)}, timeout=1)
    b.chain(b.start_id, "s", b.end_id)
    run_id = api.run_pipeline(b.build())
    node = runs.wait_node(run_id, "s", "FAILED")
    # Failed within about a second of its deadline (the sweep runs every 0.5 s in tests).
    assert (node.finished_at - node.started_at).total_seconds() < 1 + 2
    assert "timed out" in node.ex_data
    wait_for(lambda: any(k == "stop" for k, _, _ in runs.marks(marker)), timeout=10)
