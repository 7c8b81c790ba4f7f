"""Two operations on one run at the same moment end in a consistent state.

Threads released together by a barrier call `pipeline_engine.api` on the same
run: pause + callback, revoke + retry, callback + callback. Either call may be
refused (InvalidOperation) when the other got there first; what must never
happen is a state no single order of the two could produce: a callback applied
twice or lost, a revoked run with a node still running, a run stuck.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from tests.faults.conftest import FaultsEnv, run_threads
from tests.faults.helpers import chain, only_activity, start, wait_node, wait_state

pytest.importorskip("tests.faults.components", reason="the engine's component registry is not available yet",
                    exc_type=ImportError)

pytestmark = [pytest.mark.worker]

LOOPS_SLOW = 100


def loops() -> int:
    """8 rounds on Redis; 3 in the embedded mode, whose filesystem broker polls once a second."""
    from tests.faults.conftest import redis_broker

    return 8 if redis_broker() else 3


def _refused_or_ok(errors: list[BaseException | None]) -> list[bool]:
    """True where the call went through; a refusal must be the engine's InvalidOperation."""
    from pipeline_engine.errors import InvalidOperation

    for err in errors:
        if err is not None and not isinstance(err, InvalidOperation):
            raise AssertionError(f"unexpected error from a concurrent operation: {err!r}") from err
    return [err is None for err in errors]


def _callbacks(faults: FaultsEnv, run_id: str) -> list[dict[str, Any]]:
    return [r for r in faults.probe() if r["event"] == "callback" and r["run"] == run_id]


def _waiting_run(faults: FaultsEnv, tail: list[tuple[str, Any]], prefix: str) -> tuple[str, str]:
    tree = chain([("faults_wait_callback", None), *tail], prefix=prefix)
    node = only_activity(tree, "faults_wait_callback")
    run_id = start(tree)
    # Waiting: its execute has run (the probe says so) and the node is RUNNING.
    deadline = time.monotonic() + 20
    while not any(r["event"] == "execute" and r["run"] == run_id for r in faults.probe()):
        assert time.monotonic() < deadline, f"node never executed\n{faults.logs()}"
        time.sleep(0.02)
    wait_node(run_id, node, lambda d: d["state"] == "RUNNING")
    return run_id, node


def pause_and_callback(faults: FaultsEnv, loops: int) -> None:
    from pipeline_engine import api

    outcomes = []
    for i in range(loops):
        run_id, node = _waiting_run(faults, [("noop", None)], prefix=f"pc{i}")
        paused, called = _refused_or_ok(run_threads([
            partial(api.pause_pipeline, run_id),
            partial(api.callback, run_id, node, {"n": i}),
        ]))
        outcomes.append((paused, called))
        if paused:
            wait_state([run_id], {"SUSPENDED"}, timeout=10)
            api.resume_pipeline(run_id)
        if not called:
            api.callback(run_id, node, {"n": i})
        wait_state([run_id], {"FINISHED"}, timeout=30, diagnostics=faults.logs)
        got = _callbacks(faults, run_id)
        assert len(got) == 1, f"callback applied {len(got)} times: {got}"
        assert api.get_node_detail(run_id, node)["outputs"].get("got") == {"n": i}
    print("\npause+callback (paused, called):", outcomes)


def revoke_and_retry(faults: FaultsEnv, loops: int) -> None:
    from pipeline_engine import api

    outcomes = []
    for i in range(loops):
        tree = chain([("faults_fail", None), ("noop", None)], prefix=f"rr{i}")
        node = only_activity(tree, "faults_fail")
        run_id = start(tree)
        wait_state([run_id], {"FAILED"}, timeout=20, diagnostics=faults.logs)
        revoked, retried = _refused_or_ok(run_threads([
            partial(api.revoke_pipeline, run_id),
            partial(api.retry_node, run_id, node),
        ]))
        outcomes.append((revoked, retried))
        assert revoked, "revoking a run with a failed node must be accepted whatever the order"
        state = wait_state([run_id], {"REVOKED"}, timeout=10)[run_id]
        assert state == "REVOKED"
        # Give a retried execution that slipped through time to show itself, then look: nothing may run.
        time.sleep(0.5)
        tree_status = api.get_status_tree(run_id)
        assert tree_status["state"] == "REVOKED"
        live = {nid: n["state"] for nid, n in tree_status["children"].items() if n["state"] in ("RUNNING", "READY")}
        assert not live, f"revoked run still has live nodes: {live}"
        with pytest.raises(Exception):  # noqa: B017 - any refusal; the run is over
            api.retry_node(run_id, node)
    print("\nrevoke+retry (revoked, retried):", outcomes)


def two_callbacks(faults: FaultsEnv, loops: int) -> None:
    from pipeline_engine import api

    outcomes = []
    for i in range(loops):
        run_id, node = _waiting_run(faults, [], prefix=f"cc{i}")
        first, second = _refused_or_ok(run_threads([
            partial(api.callback, run_id, node, {"from": "a"}),
            partial(api.callback, run_id, node, {"from": "b"}),
        ]))
        outcomes.append((first, second))
        assert first or second, "both callbacks refused: the node waits forever"
        wait_state([run_id], {"FINISHED"}, timeout=30, diagnostics=faults.logs)
        got = _callbacks(faults, run_id)
        assert len(got) == 1, f"callback applied {len(got)} times: {got}"
        output = api.get_node_detail(run_id, node)["outputs"].get("got")
        assert output == got[0]["data"] and output in ({"from": "a"}, {"from": "b"})
    print("\ntwo callbacks (a accepted, b accepted):", outcomes)


@pytest.fixture
def worker(faults: FaultsEnv) -> FaultsEnv:
    faults.start_worker("ops", concurrency=2)
    return faults


def test_pause_and_callback_at_once(worker: FaultsEnv) -> None:
    pause_and_callback(worker, loops())


def test_revoke_and_retry_at_once(worker: FaultsEnv) -> None:
    revoke_and_retry(worker, loops())


def test_two_callbacks_at_once(worker: FaultsEnv) -> None:
    two_callbacks(worker, loops())


@pytest.mark.slow
def test_concurrent_operations_long(worker: FaultsEnv) -> None:
    pause_and_callback(worker, LOOPS_SLOW)
    revoke_and_retry(worker, LOOPS_SLOW)
    two_callbacks(worker, LOOPS_SLOW)
