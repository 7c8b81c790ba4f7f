"""End-to-end through pipeline_engine.api with a real Celery worker."""
from __future__ import annotations

import pytest

from pipeline_engine import api
from tests.conftest import wait_for
from tests.pipeline_engine.trees import linear, parallel

pytestmark = [pytest.mark.worker]


def _state(run_id: str) -> str:
    return api.get_run_summary(run_id).state


def test_linear_noop_chain_finishes(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(linear(20))
    wait_for(lambda: _state(run_id) == "FINISHED", timeout=30)
    tree = api.get_status_tree(run_id)
    assert tree["state"] == "FINISHED"
    assert len(tree["children"]) == 22


def test_parallel_bench_poll(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(parallel(5, "bench_poll"))
    wait_for(lambda: _state(run_id) == "FINISHED", timeout=30)
