"""The engine through pipeline_engine.api with a real Celery worker (prefork, 2 processes).

Runs on PostgreSQL + Redis or on the embedded SQLite + filesystem broker,
whichever the environment selects.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pipeline_engine import api
from pipeline_engine.errors import InvalidOperation, NodeNotFound, RunNotFound, TreeInvalid
from pipeline_engine.runtime.models import NodeHistory, NodeState, Run
from tests.conftest import wait_for
from tests.pipeline_engine.trees import TreeBuilder, linear, parallel

pytestmark = [pytest.mark.worker]

TIMEOUT = 60


def _state(run_id: str) -> str:
    return api.get_run_summary(run_id).state


def _wait_state(run_id: str, *states: str, timeout: float = TIMEOUT) -> str:
    return wait_for(lambda: _state(run_id) in states and _state(run_id), timeout=timeout,
                    message=f"run {run_id} to reach {states}")


def _node(run_id: str, node_id: str) -> NodeState | None:
    return NodeState.objects.filter(run_id=run_id, node_id=node_id).first()


def _wait_node(run_id: str, node_id: str, state: str, phase: str | None = None) -> NodeState:
    def check():
        node = _node(run_id, node_id)
        return node if node and node.state == state and (phase is None or node.phase == phase) else None

    return wait_for(check, timeout=TIMEOUT, message=f"{node_id} to be {state}/{phase}")


def _marks(path: Path) -> list[tuple[str, str, float]]:
    if not path.exists():
        return []
    result = []
    for line in path.read_text().splitlines():
        kind, node_id, at = line.split()
        result.append((kind, node_id, float(at)))
    return result


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
    assert _wait_state(run_id, "FINISHED", "FAILED") == "FINISHED"
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
    _wait_state(run_id, "FINISHED")
    marks = {(kind, node): at for kind, node, at in _marks(marker)}
    assert max(marks[("start", "s1")], marks[("start", "s2")]) < min(marks[("end", "s1")], marks[("end", "s2")])
    assert _node(run_id, "cg").loop == 1


def _waiting_tree() -> dict:
    b = TreeBuilder()
    b.const("${cb}", "", source_type="component_outputs", source_info={"p": ["callback_data"]})
    b.outputs = ["${cb}"]
    b.act("p", "pause_node")
    b.act("after", "noop")
    b.chain(b.start_id, "p", "after", b.end_id)
    return b.build()


def test_callback_flow_and_refusals(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(_waiting_tree())
    node = _wait_node(run_id, "p", "RUNNING", "callback")
    with pytest.raises(InvalidOperation, match="not exist"):
        api.callback(run_id, "p", {"x": 1}, version="wrong")
    with pytest.raises(InvalidOperation, match="not waiting"):
        api.callback(run_id, "after", {"x": 1})
    with pytest.raises(NodeNotFound):
        api.callback(run_id, "ghost", {"x": 1})
    with pytest.raises(RunNotFound):
        api.callback("no-such-run", "p", {})
    api.callback(run_id, "p", {"x": 1}, version=node.version)
    api.callback(run_id, "p", {"x": 1})  # a repeat is harmless
    _wait_state(run_id, "FINISHED")
    assert api.get_run_summary(run_id).outputs == {"${cb}": {"x": 1}}
    with pytest.raises(InvalidOperation, match="FINISHED"):
        api.callback(run_id, "p", {"x": 1})


def test_pause_resume_and_refusals(transactional_db, celery_worker_proc, tmp_path):
    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 1.0})
    b.act("after", "noop")
    b.chain(b.start_id, "s", "after", b.end_id)
    run_id = api.run_pipeline(b.build())
    _wait_node(run_id, "s", "RUNNING")
    with pytest.raises(InvalidOperation):
        api.resume_pipeline(run_id)
    api.pause_pipeline(run_id)
    with pytest.raises(InvalidOperation):
        api.pause_pipeline(run_id)
    assert _state(run_id) == "SUSPENDED"
    _wait_node(run_id, "s", "FINISHED")  # running work finishes
    time.sleep(0.5)
    assert _node(run_id, "after") is None  # nothing new starts
    assert api.get_status_tree(run_id)["state"] == "SUSPENDED"
    api.resume_pipeline(run_id)
    _wait_state(run_id, "FINISHED")
    for op in (api.pause_pipeline, api.resume_pipeline, api.revoke_pipeline):
        with pytest.raises(InvalidOperation):
            op(run_id)


def test_revoke_releases_a_waiting_node(transactional_db, celery_worker_proc):
    run_id = api.run_pipeline(_waiting_tree())
    _wait_node(run_id, "p", "RUNNING", "callback")
    api.revoke_pipeline(run_id)
    assert _state(run_id) == "REVOKED"
    assert _node(run_id, "p").state == "REVOKED"
    with pytest.raises(InvalidOperation):
        api.callback(run_id, "p", {})
    with pytest.raises(InvalidOperation):
        api.revoke_pipeline(run_id)
    time.sleep(0.5)
    assert _node(run_id, "after") is None


def test_retry_with_new_inputs_skip_and_refusals(transactional_db, celery_worker_proc):
    b = TreeBuilder()
    b.const("${partial}", "", source_type="component_outputs", source_info={"f": ["partial"]})
    b.act("f", "test_fail", {"message": "first", "partial": "p1"})
    b.act("g", "test_fail", {"message": "second"}, skippable=True)
    b.act("h", "var_assign", {"seen": "${partial}"})
    b.chain(b.start_id, "f", "g", "h", b.end_id)
    run_id = api.run_pipeline(b.build())
    _wait_node(run_id, "f", "FAILED")
    assert _wait_state(run_id, "FAILED") == "FAILED"
    assert api.get_status_tree(run_id)["state"] == "FAILED"
    with pytest.raises(InvalidOperation):
        api.forced_fail(run_id, "f")  # not running
    with pytest.raises(InvalidOperation):
        api.skip_exclusive_gateway(run_id, "f", "x")  # not a gateway
    api.retry_node(run_id, "f", {"message": "retried", "partial": "p2"})
    wait_for(lambda: (n := _node(run_id, "f")) and n.retry == 1 and n.state == "FAILED")
    detail = api.get_node_detail(run_id, "f")
    assert detail["ex_data"] == "retried" and detail["inputs"]["partial"] == "p2"
    assert [h["ex_data"] for h in detail["histories"]] == ["first"]
    api.skip_node(run_id, "f")
    _wait_node(run_id, "g", "FAILED")
    api.skip_node(run_id, "g")
    _wait_state(run_id, "FINISHED")
    assert _node(run_id, "h").inputs["seen"] == "p2"  # outputs of the failed attempt, not of the skip
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
    _wait_node(run_id, "g", "FAILED")
    with pytest.raises(InvalidOperation):
        api.skip_exclusive_gateway(run_id, "g", "not-a-flow")
    api.skip_exclusive_gateway(run_id, "g", to_a2)
    _wait_state(run_id, "FINISHED")
    assert _node(run_id, "a1") is None and _node(run_id, "a2").state == "FINISHED"


def test_forced_fail_stops_the_work_and_drops_its_late_result(transactional_db, celery_worker_proc, tmp_path):
    marker = tmp_path / "marks"
    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 20, "marker": str(marker)})
    b.chain(b.start_id, "s", b.end_id)
    run_id = api.run_pipeline(b.build())
    wait_for(lambda: any(k == "start" for k, _, _ in _marks(marker)))
    api.forced_fail(run_id, "s", "terminated by alice")
    wait_for(lambda: any(k == "stop" for k, _, _ in _marks(marker)), timeout=10,
             message="the component to be told to stop")
    time.sleep(0.5)
    node = _node(run_id, "s")
    assert node.state == "FAILED" and node.ex_data == "terminated by alice"  # late "stopped" result dropped
    assert api.get_status_tree(run_id)["state"] == "FAILED"
    with pytest.raises(InvalidOperation):
        api.forced_fail(run_id, "s")


def test_timeout_fails_the_node_and_stops_it(transactional_db, celery_worker_proc, engine_sweeper, tmp_path):
    marker = tmp_path / "marks"
    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 20, "marker": str(marker)}, timeout=1)
    b.chain(b.start_id, "s", b.end_id)
    run_id = api.run_pipeline(b.build())
    node = _wait_node(run_id, "s", "FAILED")
    # Failed within about a second of its deadline (the sweep runs every 0.5 s in tests).
    assert (node.finished_at - node.started_at).total_seconds() < 1 + 2
    assert "timed out" in node.ex_data
    wait_for(lambda: any(k == "stop" for k, _, _ in _marks(marker)), timeout=10)


def test_auto_retry(transactional_db, celery_worker_proc, tmp_path):
    b = TreeBuilder()
    b.act("f", "test_flaky", {"counter": str(tmp_path / "count"), "fail_times": 2},
          auto_retry={"enable": True, "times": 3, "interval": 0.2})
    b.chain(b.start_id, "f", b.end_id)
    run_id = api.run_pipeline(b.build())
    _wait_state(run_id, "FINISHED")
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
    _wait_node(run_id, "c1", "RUNNING")
    api.pause_subprocess(run_id, "sp")
    with pytest.raises(InvalidOperation):
        api.pause_subprocess(run_id, "sp")
    with pytest.raises(InvalidOperation):
        api.pause_subprocess(run_id, "c1")
    assert _state(run_id) == "NODE_SUSPENDED"
    _wait_node(run_id, "c1", "FINISHED")
    time.sleep(0.3)
    assert _node(run_id, "c2") is None
    api.resume_subprocess(run_id, "sp")
    _wait_state(run_id, "FINISHED")


def test_injection_payload_fails_the_node(transactional_db, celery_worker_proc):
    b = TreeBuilder()
    b.const("${x}", "v")
    b.act("a", "var_assign", {"v": "${x.__class__.__base__.__subclasses__()}"})
    b.chain(b.start_id, "a", b.end_id)
    try:
        run_id = api.run_pipeline(b.build())
    except TreeInvalid:
        return
    node = _wait_node(run_id, "a", "FAILED")
    assert "input rendering failed" in node.ex_data


def test_reads_take_constant_queries(transactional_db, celery_worker_proc):
    small, big = api.run_pipeline(linear(3)), api.run_pipeline(parallel(60, "noop"))
    _wait_state(small, "FINISHED")
    _wait_state(big, "FINISHED")
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


# --------------------------------------------------------------------------- §8 defects
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
    _wait_state(run_id, "FINISHED")
    time.sleep(1.0)  # let the duplicates land
    for node in running:
        dispatch.send_component(run_id, node.key, node.version, 0)
        dispatch.send_component(run_id, node.key, node.version, 1)
    time.sleep(1.0)
    assert _node(run_id, "cg").loop == 1 and _node(run_id, "after").loop == 1
    assert not NodeHistory.objects.filter(run_id=run_id).exists()
    assert Run.objects.get(pk=run_id).frontier["joins"] == {}


def test_no_callback_lost_under_lock_contention(transactional_db, celery_worker_proc):
    """bamboo-engine PRs #262/#263: a callback lost to lock contention."""
    run_id = api.run_pipeline(_waiting_tree())
    _wait_node(run_id, "p", "RUNNING", "callback")
    results: dict[int, str] = {}
    release = threading.Event()
    locked = threading.Event()

    def hold_lock():
        with transaction.atomic():
            Run.objects.select_for_update().get(pk=run_id)  # what a walker step holds
            locked.set()
            release.wait(10)
        connection.close()

    def send(i: int):
        try:
            api.callback(run_id, "p", {"from": i})
            results[i] = "ok"
        except InvalidOperation as exc:
            results[i] = exc.message
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    senders = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in senders:
        thread.start()
    time.sleep(0.5)
    release.set()
    for thread in [holder, *senders]:
        thread.join(30)
    winners = [i for i, r in results.items() if r == "ok"]
    assert len(results) == 8 and len(winners) == 1, results
    # Each loser is refused clearly: while the node still waits, as a repeat; once
    # the winner's callback has finished the node (SQLite serialises the senders
    # slowly enough for that), as "not waiting" / "finished".
    refusals = ("already received", "not waiting for a callback", "this node is finished")
    assert all(any(m in r for m in refusals) for i, r in results.items() if i not in winners), results
    _wait_state(run_id, "FINISHED")
    assert api.get_run_summary(run_id).outputs == {"${cb}": {"from": winners[0]}}


def test_lost_start_message_is_recovered_by_the_reaper(transactional_db, celery_worker_proc, engine_sweeper,
                                                        settings, monkeypatch):
    from pipeline_engine.runtime import dispatch

    settings.SOPS_REAPER_LEASE_SECONDS = 1
    real_send = dispatch.send_advance
    monkeypatch.setattr(dispatch, "send_advance", lambda *a, **kw: None)  # the broker "loses" it
    run_id = api.run_pipeline(linear(3))
    time.sleep(0.3)
    assert _state(run_id) == "RUNNING"
    monkeypatch.setattr(dispatch, "send_advance", real_send)  # the sweep's own message gets through
    _wait_state(run_id, "FINISHED", timeout=20)


def test_forced_fail_sends_run_finished_failed_after_commit(transactional_db, celery_worker_proc):
    """forced_fail through the API stops the run on a failed node: run_finished(FAILED)
    is sent after the operation's commit, as when a node fails by itself."""
    from pipeline_engine import signals

    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 30})
    b.chain(b.start_id, "s", b.end_id)
    run_id = api.run_pipeline(b.build(), meta={"task_id": 7})
    _wait_node(run_id, "s", "RUNNING", phase="execute")
    received: list[tuple[str, str, dict, bool]] = []

    def on_finished(sender, run_id: str, state: str, meta: dict, **_):  # type: ignore[no-untyped-def]
        received.append((run_id, state, meta, connection.in_atomic_block))

    signals.run_finished.connect(on_finished, dispatch_uid="test-forced-fail-signal")
    try:
        with transaction.atomic():
            api.forced_fail(run_id, "s", "stopped by alice")
            assert received == []  # not before the commit
        assert received == [(run_id, "FAILED", {"task_id": 7}, False)]
        api.pause_pipeline(run_id)
        api.resume_pipeline(run_id)
        assert len(received) == 1  # told once
    finally:
        signals.run_finished.disconnect(dispatch_uid="test-forced-fail-signal")
    assert api.get_run_summary(run_id).state == "FAILED"


def test_run_pipeline_leaves_the_callers_tree_alone_and_refuses_a_repeated_id(transactional_db,
                                                                               celery_worker_proc):
    import copy

    tree = parallel(2)
    tree["constants"]["${nested}"] = {"key": "${nested}", "value": {"a": [1]}, "source_type": "custom"}
    for gw in tree["gateways"].values():
        gw.pop("converge_gateway_id", None)
    before = copy.deepcopy(tree)
    run_id = api.run_pipeline(tree, run_id="fixed-run-id")
    assert tree == before  # not filled in, not copied into
    tree["constants"]["${nested}"]["value"]["a"].append(2)  # a later change of the caller's dict
    stored = Run.objects.get(pk=run_id)
    assert stored.tree["gateways"]["pg"]["converge_gateway_id"] == "cg"
    assert stored.context[""]["values"]["nested"] == {"a": [1]}
    from pipeline_engine.runtime import tree_cache

    assert tree_cache.compiled_tree(run_id).root.constants["nested"] == {"a": [1]}  # the cached copy too
    with pytest.raises(InvalidOperation, match="already been started"):
        api.run_pipeline(before, run_id="fixed-run-id")
    _wait_state(run_id, "FINISHED")
    assert Run.objects.filter(pk=run_id).count() == 1
