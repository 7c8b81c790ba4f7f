"""Effects after commit (runtime/dispatch.py): run_finished is sent once, after the commit."""
from __future__ import annotations

import pytest
from django.db import connection, transaction

from pipeline_engine import api
from pipeline_engine.core.records import Effect
from pipeline_engine.runtime import dispatch
from pipeline_engine.runtime.prepared import Writes
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import TreeBuilder


def test_a_task_keeps_one_due_component_for_itself():
    due = Effect("component", key="a", version="v1", schedule_count=2)
    dispatch.collect_local_work()
    try:
        dispatch.after_commit("run", {}, "Asia/Shanghai", "alice", [due], [])
        assert dispatch.take_local_work() == ("run", "a", "v1", 2, "Asia/Shanghai", "alice")
        assert dispatch.take_local_work() is None  # taken; the task runs it itself
        dispatch.after_commit("run", {}, "UTC", "", [due], [])
    finally:
        left = dispatch.stop_local_work()
    assert left == [("run", "a", "v1", 2, "UTC", "")]  # kept but not run: the caller sends it
    assert dispatch.take_local_work() is None  # no longer collecting


@pytest.fixture
def ends_told():
    """The (run_id, state) pairs run_finished tells while the test runs."""
    from pipeline_engine import signals

    received: list[tuple[str, str]] = []
    signals.run_finished.connect(lambda sender, run_id, state, **_: received.append((run_id, state)),
                                 dispatch_uid="test-dispatch-ends", weak=False)
    yield received
    signals.run_finished.disconnect(dispatch_uid="test-dispatch-ends")


def test_start_pipeline_leaves_an_end_of_the_first_step_to_its_caller(transactional_db, ends_told):
    """run_pipeline tells run_finished of an end the start's own walk reached, after the commit;
    start_pipeline returns that end instead (its caller records it in the same transaction),
    and says RUNNING of a run its first step did not end."""
    b = TreeBuilder()
    b.chain(b.start_id, b.act("a", "noop"), b.act("b", "noop"), b.end_id)
    with transaction.atomic():
        told = api.run_pipeline(b.build())
    assert ends_told == [(told, "FINISHED")]
    with transaction.atomic():
        started = api.start_pipeline(b.build())
    assert started.state == "FINISHED" and started.finished_at is not None
    assert ends_told == [(told, "FINISHED")]  # nothing more: the caller records this end
    assert api.get_run_summary(started.run_id).state == "FINISHED"

    waiting = TreeBuilder()
    waiting.chain(waiting.start_id, waiting.act("p", "pause_node"), waiting.end_id)
    with transaction.atomic():
        paused = api.start_pipeline(waiting.build())
    assert (paused.state, paused.finished_at) == ("RUNNING", None)  # a later end is told as always


def _priority_write(run_id: str, priority: int) -> Writes:
    """A caller's write whose result nobody reads, on a row the test can read back."""
    from pipeline_engine.runtime.models import Run

    writes = Writes()
    writes.update_rows(Run, {"pk": run_id}, {"priority": priority})
    return writes


def test_callback_along_sends_its_callers_writes_in_the_steps_round_trip(transactional_db, ends_told):
    """callback_along's caller hands over its writes: they go with the step's own, in the same
    query on PostgreSQL (a callback with them costs the round trips of one without), and an end
    the step reaches is told by run_finished after the commit, once."""
    from django.test.utils import CaptureQueriesContext

    from pipeline_engine.runtime.models import Run

    b = TreeBuilder()
    b.chain(b.start_id, b.act("p", "pause_node"), b.act("q", "pause_node"), b.end_id)
    bare, carrying = api.run_pipeline(b.build()), api.run_pipeline(b.build())
    with CaptureQueriesContext(connection) as without, transaction.atomic():
        assert api.callback_along(bare, "p", 1, along=Writes()).state == "RUNNING"
    with CaptureQueriesContext(connection) as with_writes, transaction.atomic():
        first = api.callback_along(carrying, "p", 1, along=_priority_write(carrying, 7))
    assert (first.state, first.finished_at) == ("RUNNING", None)  # waiting at q
    assert Run.objects.get(pk=carrying).priority == 7
    assert not any("SAVEPOINT" in q["sql"] for q in with_writes.captured_queries)
    if connection.vendor == "postgresql":
        assert len(with_writes.captured_queries) == len(without.captured_queries)
    assert ends_told == []
    with transaction.atomic():
        last = api.callback_along(carrying, "q", 2, along=Writes())
    assert last.state == "FINISHED" and last.finished_at is not None
    assert ends_told == [(carrying, "FINISHED")]
    assert api.get_run_summary(carrying).state == "FINISHED"


def test_a_refused_callback_along_sends_none_of_its_callers_writes(transactional_db):
    """callback_along joins its caller's transaction without a savepoint: a refused callback fails
    that transaction whole, the caller's writes with it. A plain callback keeps its savepoint,
    so a caller that goes on after its failure still can."""
    from pipeline_engine.errors import EngineError
    from pipeline_engine.runtime.models import Run

    b = TreeBuilder()
    b.chain(b.start_id, b.act("p", "pause_node"), b.act("q", "pause_node"), b.end_id)
    run_id = api.run_pipeline(b.build())
    with transaction.atomic():
        api.callback_along(run_id, "p", 1, along=Writes())
    with pytest.raises(EngineError), transaction.atomic():
        api.callback_along(run_id, "p", 1, version="not-its-version", along=_priority_write(run_id, 9))
    assert Run.objects.get(pk=run_id).priority != 9
    assert api.get_run_summary(run_id).state == "RUNNING"
    with transaction.atomic():  # the plain callback's own savepoint: its failure is survivable
        with pytest.raises(EngineError):
            api.callback(run_id, "p", 1, version="not-its-version")
        api.callback(run_id, "q", 2)
    assert api.get_run_summary(run_id).state == "FINISHED"


def test_writes_taken_along_must_not_read_their_results(transactional_db):
    """An INSERT that sets its rows' keys reads its result, which among a step's statements is not
    the query's: take_unread refuses it rather than leave the keys unset."""
    from pipeline_engine.runtime.models import NodeHistory

    writes = Writes()
    writes.insert_rows([NodeHistory(run_id="r", node_id="n", key="n", version="v")])
    with pytest.raises(ValueError, match="on its own"):
        writes.take_unread()
    unread = Writes()
    unread.insert_rows([NodeHistory(run_id="r", node_id="n", key="n", version="v")], read_keys=False)
    assert len(unread.take_unread()) == 1 and unread.take_unread() == []


@pytest.mark.worker
def test_forced_fail_sends_run_finished_failed_after_commit(transactional_db, celery_worker_proc):
    """forced_fail through the API stops the run on a failed node: run_finished(FAILED)
    is sent after the operation's commit, as when a node fails by itself."""
    from pipeline_engine import signals

    b = TreeBuilder()
    b.act("s", "test_sleep", {"seconds": 30})
    b.chain(b.start_id, "s", b.end_id)
    run_id = api.run_pipeline(b.build(), meta={"task_id": 7})
    runs.wait_node(run_id, "s", "RUNNING", phase="execute")
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


def test_node_failed_is_sent_for_each_failure_that_waits_for_an_operator():
    from pipeline_engine.core import states as s
    from pipeline_engine.core.records import NodeRecord
    from pipeline_engine.signals import node_failed

    def rec(node_id: str, state: str, **kw) -> NodeRecord:
        return NodeRecord(key=node_id, scope="", node_id=node_id, node_type="ServiceActivity", state=state, **kw)

    heard: list[tuple[str, str, dict]] = []

    def listen(sender, *, run_id, node_id, meta, **_):
        heard.append((run_id, node_id, meta))
    node_failed.connect(listen, dispatch_uid="test-node-failed")
    try:
        dispatch.after_commit("run", {"task_id": 7}, "UTC", "", [], [
            rec("failed", s.FAILED), rec("ignored", s.FAILED, error_ignored=True),
            rec("retrying", s.FAILED, phase=s.PHASE_RETRY_WAIT), rec("done", s.FINISHED)])
    finally:
        node_failed.disconnect(dispatch_uid="test-node-failed")
    assert heard == [("run", "failed", {"task_id": 7})]


def _unsent(reason: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("sops_engine_messages_unsent_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize("error", [
    __import__("kombu.exceptions", fromlist=["OperationalError"]).OperationalError("Connection refused."),
    __import__("kombu.exceptions", fromlist=["ChannelError"]).ChannelError("Cannot add file to directory"),
    ConnectionRefusedError(111, "Connection refused"),
])
def test_publish_logs_a_broker_error_in_one_line_and_never_raises(error, caplog):
    before = _unsent("broker")

    def send() -> None:
        raise error

    with caplog.at_level("WARNING", logger="pipeline_engine"):
        assert dispatch.publish("run=r1 advance", send) is False
    assert _unsent("broker") == before + 1
    [record] = [r for r in caplog.records if r.name == "pipeline_engine"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage().startswith("run=r1 advance: message not sent, the broker is unavailable")


def test_publish_logs_any_other_error_with_its_traceback_and_never_raises(caplog):
    before = _unsent("error")
    with caplog.at_level("WARNING", logger="pipeline_engine"):
        assert dispatch.publish("run=r2 advance", lambda: 1 / 0) is False
    assert _unsent("error") == before + 1
    [record] = [r for r in caplog.records if r.name == "pipeline_engine"]
    assert record.levelname == "ERROR" and record.exc_info is not None
    assert dispatch.publish("run=r3 advance", lambda: None) is True


@pytest.mark.django_db(transaction=True)
def test_publish_after_commit_runs_after_the_commit_and_a_failure_does_not_escape_it():
    sent: list[str] = []

    def send() -> None:
        sent.append("tried")
        raise ConnectionRefusedError(111, "Connection refused")

    with transaction.atomic():
        dispatch.publish_after_commit("run=r4 advance", send)
        assert sent == []
    assert sent == ["tried"]  # ran on commit; the atomic block above did not raise
