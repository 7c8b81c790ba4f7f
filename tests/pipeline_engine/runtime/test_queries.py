"""What readers see (runtime/queries.py): status trees, node details and summaries."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline_engine import api
from pipeline_engine.core import operations
from pipeline_engine.errors import NodeNotFound, RunNotFound
from pipeline_engine.runtime.step import step
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import TreeBuilder, linear, parallel


def walked(tree: dict) -> str:
    """A run started and walked in this process (no worker: its messages go nowhere)."""
    run_id = api.run_pipeline(tree)
    step(run_id, lambda w: None)
    return run_id


@pytest.mark.django_db
def test_a_run_stopped_on_failures_says_why_until_it_goes_on():
    b = TreeBuilder()
    pg, cg = b.gw("pg", "ParallelGateway"), b.gw("cg", "ConvergeGateway")
    b.act("f1", "test_fail", {"message": "first broke"})
    b.act("f2", "test_fail", {"message": "second broke"})
    b.chain(b.start_id, pg)
    b.chain(pg, "f1", cg)
    b.chain(pg, "f2", cg)
    b.chain(cg, b.end_id)
    run_id = walked(b.build())
    summary = api.get_run_summary(run_id)
    assert summary.state == "FAILED" and summary.ex_data == "first broke\nsecond broke"
    step(run_id, lambda w: operations.skip(w, "f1"))
    assert api.get_run_summary(run_id).ex_data == "second broke"
    step(run_id, lambda w: operations.skip(w, "f2"))
    summary = api.get_run_summary(run_id)
    assert summary.state == "FINISHED" and summary.ex_data == ""
    ok = walked(linear(2))
    assert api.get_run_summaries([ok, run_id, "ghost"]).keys() == {ok, run_id}
    assert api.get_run_summary(ok).ex_data == ""


@pytest.mark.django_db
def test_a_subprocess_shows_what_its_nodes_wait_for():
    inner = TreeBuilder()
    inner.act("work", "bench_poll")
    inner.chain(inner.start_id, "work", inner.end_id)
    middle = TreeBuilder()
    middle.sub("isp", inner.build())
    middle.chain(middle.start_id, "isp", middle.end_id)
    b = TreeBuilder()
    b.sub("sp", middle.build())
    b.act("f", "test_fail")
    pg, cg = b.gw("pg", "ParallelGateway"), b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, pg)
    b.chain(pg, "sp", cg)
    b.chain(pg, "f", cg)
    b.chain(cg, b.end_id)
    run_id = walked(b.build())
    tree = api.get_status_tree(run_id)
    sp = tree["children"]["sp"]
    assert tree["state"] == "FAILED" and tree["children"]["f"]["state"] == "FAILED"
    assert sp["state"] == "RUNNING" and sp["children"]["isp"]["children"]["work"]["state"] == "RUNNING"
    step(run_id, lambda w: operations.pause_subprocess(w, "sp/isp"), walk=False)
    sp = api.get_status_tree(run_id)["children"]["sp"]
    assert sp["children"]["isp"]["state"] == "SUSPENDED" and sp["state"] == "NODE_SUSPENDED"  # rolled up


@pytest.mark.django_db
def test_node_detail_of_a_node_not_reached_yet_and_of_unknown_ones():
    run_id = walked(linear(2, "bench_poll"))
    detail = api.get_node_detail(run_id, "n1")
    assert (detail["state"], detail["name"], detail["component_code"], detail["histories"]) == (
        "READY", "n1", "bench_poll", [])
    running = api.get_node_detail(run_id, "n0")
    assert running["state"] == "RUNNING" and running["inputs"]["_loop"] == 1
    with pytest.raises(NodeNotFound):
        api.get_node_detail(run_id, "ghost")
    with pytest.raises(RunNotFound):
        api.get_node_detail("ghost", "n0")
    with pytest.raises(RunNotFound):
        api.get_status_tree("ghost")


@pytest.mark.worker
def test_reads_take_constant_queries(transactional_db, celery_worker_proc):
    small, big = api.run_pipeline(linear(3)), api.run_pipeline(parallel(60, "noop"))
    runs.wait_state(small, "FINISHED")
    runs.wait_state(big, "FINISHED")
    counts = []
    for run_id in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            api.get_status_tree(run_id)
            api.get_node_detail(run_id, "end")
            api.get_run_summary(run_id)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    with CaptureQueriesContext(connection) as ctx:
        trees = api.get_status_trees([small, big])
    assert len(trees) == 2 and len(ctx.captured_queries) == 1  # runs and nodes in one snapshot


@pytest.mark.django_db
def test_the_status_tree_of_a_row_that_names_its_run_is_one_query_with_that_rows_fields():
    """status_tree_of reads the run an owner row names and that row's fields by subqueries of
    the run's read (here the owner is one of the run's own node rows)."""
    from pipeline_engine.runtime.models import NodeState

    run_id, other = walked(linear(3)), walked(linear(2))

    def owner(key: str, run: str):
        return NodeState.objects.filter(key=key, run_id=run)

    for rid in (run_id, other):
        with CaptureQueriesContext(connection) as ctx:
            found = api.get_status_tree_of("test.node", owner, run_field="run_id", extra=("name", "state"),
                                           key="n1", run=rid)
        assert len(ctx.captured_queries) == 1
        assert found is not None
        tree, extra = found
        assert tree == api.get_status_tree(rid)
        assert extra == ("n1", "FINISHED")
    assert api.get_status_tree_of("test.node", owner, run_field="run_id", extra=("name",), key="nx",
                                  run=run_id) is None
