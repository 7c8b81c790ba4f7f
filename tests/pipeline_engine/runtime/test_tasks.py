"""The Celery entry points (runtime/tasks.py), end to end with a real worker."""
from __future__ import annotations

import pytest

from pipeline_engine import api
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import linear, parallel

pytestmark = [pytest.mark.worker]


def test_linear_noop_chain_finishes(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(linear(20))
    runs.wait_state(run_id, "FINISHED", timeout=30)
    tree = api.get_status_tree(run_id)
    assert tree["state"] == "FINISHED"
    assert len(tree["children"]) == 22


def test_parallel_bench_poll(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(parallel(5, "bench_poll"))
    runs.wait_state(run_id, "FINISHED", timeout=30)
    assert all(runs.node(run_id, f"b{i}_0").schedule_count == 1 for i in range(5))
