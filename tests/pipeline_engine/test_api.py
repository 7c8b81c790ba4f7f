"""The engine through pipeline_engine.api with a real Celery worker (prefork, 2 processes).

Runs on PostgreSQL + Redis or on the embedded SQLite + filesystem broker,
whichever the environment selects.
"""
from __future__ import annotations

import time

import pytest
from django.db import transaction

from pipeline_engine import api
from pipeline_engine.errors import InvalidOperation, NodeNotFound, RunNotFound, TreeInvalid
from tests.conftest import wait_for
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import TreeBuilder, waiting_tree

pytestmark = [pytest.mark.worker]


def _everything_tree() -> dict:
    """Every node type: subprocess (nested twice), parallel, exclusive with a loop,
    conditional parallel, slow polled nodes and outputs flowing into constants."""
    inner = TreeBuilder()
    inner.const("${word}", "${base}-inner")
    inner.const("${inner_out}", "", source_type="component_outputs", source_info={"iv": ["word"]})
    inner.act("iv", "var_assign", {"word": "${word}"})
    inner.chain(inner.start_id, "iv", inner.end_id)
    inner.outputs = ["${inner_out}"]

    middle = TreeBuilder()
    middle.const("${base}", "${root_value}")
    middle.const("${mid_out}", "", source_type="component_outputs", source_info={"isp": ["${inner_out}"]})
    middle.sub("isp", inner.build())
    middle.act("mp", "bench_poll")
    middle.chain(middle.start_id, "isp", "mp", middle.end_id)
    middle.outputs = ["${mid_out}"]

    b = TreeBuilder()
    b.const("${root_value}", "R")
    b.const("${n}", 2)
    b.const("${from_sub}", "", source_type="component_outputs", source_info={"sp": ["${mid_out}"]})
    b.const("${assigned}", "", source_type="component_outputs", source_info={"va": ["value"]})
    b.outputs = ["${from_sub}", "${assigned}"]
    b.sub("sp", middle.build())
    pg = b.gw("pg", "ParallelGateway")
    cg = b.gw("cg", "ConvergeGateway")
    b.act("p1", "bench_poll")
    b.act("p2", "noop")
    loop_node = b.act("loopy", "noop")
    xg = b.gw("xg", "ExclusiveGateway")
    cpg = b.gw("cpg", "ConditionalParallelGateway")
    ccg = b.gw("ccg", "ConvergeGateway")
    b.act("c1", "bench_poll")
    b.act("c2", "noop")
    b.act("c3", "noop")
    b.act("va", "var_assign", {"value": "${from_sub}/${n}"})
    b.chain(b.start_id, "sp", pg)
    b.chain(pg, "p1", cg)
    b.chain(pg, "p2", cg)
    b.chain(cg, loop_node, xg)
    b.flow(xg, loop_node, condition="${_loop} < ${n}")
    b.flow(xg, cpg, default=True)
    b.flow(cpg, "c1", condition="${n} >= 1")
    b.flow(cpg, "c2", condition="${n} >= 2")
    b.flow(cpg, "c3", condition="${n} >= 3")
    b.chain("c1", ccg)
    b.chain("c2", ccg)
    b.chain("c3", ccg)
    b.chain(ccg, "va", b.end_id)
    return b.build()


def test_every_node_type_nested_subprocesses_loops_and_outputs(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(_everything_tree(), meta={"task_id": 7})
    assert runs.wait_state(run_id, "FINISHED", "FAILED") == "FINISHED"
    summary = api.get_run_summary(run_id)
    assert summary.outputs == {"${from_sub}": "R-inner", "${assigned}": "R-inner/2"}
    assert summary.meta == {"task_id": 7}
    tree = api.get_status_tree(run_id)
    assert tree["id"] == run_id and tree["state"] == "FINISHED"
    sp = tree["children"]["sp"]
    assert sp["children"]["isp"]["children"]["iv"]["state"] == "FINISHED"
    assert tree["children"]["loopy"]["loop"] == 2
    assert "c3" not in tree["children"] and tree["children"]["c1"]["state"] == "FINISHED"
    detail = api.get_node_detail(run_id, "loopy")
    assert len(detail["histories"]) == 1 and detail["histories"][0]["loop"] == 1
    va = api.get_node_detail(run_id, "va")
    assert va["inputs"]["value"] == "R-inner/2" and va["outputs"]["value"] == "R-inner/2"
    assert va["component_code"] == "var_assign"


def test_callback_flow_and_refusals(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(waiting_tree("test_wait"))  # its callback's schedule runs in the worker
    node = runs.wait_node(run_id, "p", "RUNNING", "callback")
    with pytest.raises(InvalidOperation, match="not exist"):
        api.callback(run_id, "p", {"x": 1}, version="wrong")
    with pytest.raises(InvalidOperation, match="not waiting"):
        api.callback(run_id, "after", {"x": 1})
    with pytest.raises(NodeNotFound):
        api.callback(run_id, "ghost", {"x": 1})
    with pytest.raises(RunNotFound):
        api.callback("no-such-run", "p", {})
    # A repeat that arrives before the worker has taken the first is harmless. Both are sent in one
    # transaction: apart, the worker may finish the run in between, and the repeat is then refused.
    # Different data is refused, in a savepoint of the same transaction for the same reason.
    with transaction.atomic():
        api.callback(run_id, "p", {"x": 1}, version=node.version)
        api.callback(run_id, "p", {"x": 1})
        with pytest.raises(InvalidOperation, match="already received a callback"), transaction.atomic():
            api.callback(run_id, "p", {"x": 2})
    runs.wait_state(run_id, "FINISHED")
    assert api.get_run_summary(run_id).outputs == {"${cb}": {"x": 1}}
    with pytest.raises(InvalidOperation, match="FINISHED"):
        api.callback(run_id, "p", {"x": 1})


def test_pause_resume_and_refusals(transactional_db, celery_worker_proc, tmp_path):
    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 1.0})
    b.act("after", "noop")
    b.chain(b.start_id, "s", "after", b.end_id)
    run_id = api.run_pipeline(b.build())
    runs.wait_node(run_id, "s", "RUNNING")
    with pytest.raises(InvalidOperation):
        api.resume_pipeline(run_id)
    api.pause_pipeline(run_id)
    with pytest.raises(InvalidOperation):
        api.pause_pipeline(run_id)
    assert runs.state(run_id) == "SUSPENDED"
    runs.wait_node(run_id, "s", "FINISHED")  # running work finishes
    time.sleep(0.5)
    assert runs.node(run_id, "after") is None  # nothing new starts
    assert api.get_status_tree(run_id)["state"] == "SUSPENDED"
    api.resume_pipeline(run_id)
    runs.wait_state(run_id, "FINISHED")
    for op in (api.pause_pipeline, api.resume_pipeline, api.revoke_pipeline):
        with pytest.raises(InvalidOperation):
            op(run_id)


def test_revoke_releases_a_waiting_node(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(waiting_tree())
    runs.wait_node(run_id, "p", "RUNNING", "callback")
    api.revoke_pipeline(run_id)
    assert runs.state(run_id) == "REVOKED"
    assert runs.node(run_id, "p").state == "REVOKED"
    with pytest.raises(InvalidOperation):
        api.callback(run_id, "p", {})
    with pytest.raises(InvalidOperation):
        api.revoke_pipeline(run_id)
    time.sleep(0.5)
    assert runs.node(run_id, "after") is None


def test_retry_with_new_inputs_skip_and_refusals(transactional_db, celery_worker_proc):
    b = TreeBuilder()
    b.const("${partial}", "", source_type="component_outputs", source_info={"f": ["partial"]})
    b.act("f", "test_fail", {"message": "first", "partial": "p1"})
    b.act("g", "test_fail", {"message": "second"}, skippable=True)
    b.act("h", "var_assign", {"seen": "${partial}"})
    b.chain(b.start_id, "f", "g", "h", b.end_id)
    run_id = api.run_pipeline(b.build())
    runs.wait_node(run_id, "f", "FAILED")
    assert runs.wait_state(run_id, "FAILED") == "FAILED"
    assert api.get_status_tree(run_id)["state"] == "FAILED"
    with pytest.raises(InvalidOperation):
        api.forced_fail(run_id, "f")  # not running
    with pytest.raises(InvalidOperation):
        api.skip_exclusive_gateway(run_id, "f", "x")  # not a gateway
    api.retry_node(run_id, "f", {"message": "retried", "partial": "p2"})
    wait_for(lambda: (n := runs.node(run_id, "f")) and n.retry == 1 and n.state == "FAILED")
    detail = api.get_node_detail(run_id, "f")
    assert detail["ex_data"] == "retried" and detail["inputs"]["partial"] == "p2"
    assert [h["ex_data"] for h in detail["histories"]] == ["first"]
    api.skip_node(run_id, "f")
    runs.wait_node(run_id, "g", "FAILED")
    api.skip_node(run_id, "g")
    runs.wait_state(run_id, "FINISHED")
    assert runs.node(run_id, "h").inputs["seen"] == "p2"  # outputs of the failed attempt, not of the skip
    with pytest.raises(InvalidOperation):
        api.retry_node(run_id, "f")


def test_skip_exclusive_gateway(transactional_db, celery_worker_proc):
    b = TreeBuilder()
    g = b.gw("g", "ExclusiveGateway")
    b.act("a1")
    b.act("a2")
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    b.flow(g, "a1", condition="1 > 2")
    to_a2 = b.flow(g, "a2", condition="1 > 3")
    b.chain("a1", c)
    b.chain("a2", c)
    b.chain(c, b.end_id)
    run_id = api.run_pipeline(b.build())
    runs.wait_node(run_id, "g", "FAILED")
    with pytest.raises(InvalidOperation):
        api.skip_exclusive_gateway(run_id, "g", "not-a-flow")
    api.skip_exclusive_gateway(run_id, "g", to_a2)
    runs.wait_state(run_id, "FINISHED")
    assert runs.node(run_id, "a1") is None and runs.node(run_id, "a2").state == "FINISHED"


def test_auto_retry(transactional_db, celery_worker_proc, tmp_path):
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "count"), "fail_times": 2},
          auto_retry={"enable": True, "times": 3, "interval": 0.2})
    b.chain(b.start_id, "f", b.end_id)
    run_id = api.run_pipeline(b.build())
    runs.wait_state(run_id, "FINISHED")
    detail = api.get_node_detail(run_id, "f")
    assert detail["retry"] == 2 and len(detail["histories"]) == 2


def test_pause_and_resume_subprocess(transactional_db, celery_worker_proc):
    child = TreeBuilder()
    child.act("c1", "test_sleep", {"seconds": 0.5})
    child.act("c2", "noop")
    child.chain(child.start_id, "c1", "c2", child.end_id)
    b = TreeBuilder()
    b.sub("sp", child.build())
    b.chain(b.start_id, "sp", b.end_id)
    run_id = api.run_pipeline(b.build())
    runs.wait_node(run_id, "c1", "RUNNING")
    api.pause_subprocess(run_id, "sp")
    with pytest.raises(InvalidOperation):
        api.pause_subprocess(run_id, "sp")
    with pytest.raises(InvalidOperation):
        api.pause_subprocess(run_id, "c1")
    assert runs.state(run_id) == "NODE_SUSPENDED"
    runs.wait_node(run_id, "c1", "FINISHED")
    time.sleep(0.3)
    assert runs.node(run_id, "c2") is None
    api.resume_subprocess(run_id, "sp")
    runs.wait_state(run_id, "FINISHED")


def test_injection_payload_fails_the_node(transactional_db, celery_worker_proc):
    b = TreeBuilder()
    b.const("${x}", "v")
    b.act("a", "var_assign", {"v": "${x.__class__.__base__.__subclasses__()}"})
    b.chain(b.start_id, "a", b.end_id)
    try:
        run_id = api.run_pipeline(b.build())
    except TreeInvalid:
        return
    node = runs.wait_node(run_id, "a", "FAILED")
    assert "input rendering failed" in node.ex_data


def test_preview_node_inputs_and_list_components():
    child = TreeBuilder()
    child.const("${c}", "${p}-child")
    child.act("n", "noop", {"v": "${c}"})
    child.chain(child.start_id, "n", child.end_id)
    b = TreeBuilder()
    b.const("${p}", "parent")
    b.sub("sp", child.build())
    b.act("top", "noop", {"v": "${p}!", "raw": 3})
    b.chain(b.start_id, "sp", "top", b.end_id)
    tree = b.build()
    assert api.preview_node_inputs(tree, "top") == {"v": "parent!", "raw": 3}
    assert api.preview_node_inputs(tree, "n", ["sp"]) == {"v": "parent-child"}
    codes = {c["code"] for c in api.list_components()}
    assert {"noop", "bench_poll", "pause_node"} <= codes


