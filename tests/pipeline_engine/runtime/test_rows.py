"""The engine's rows (runtime/rows.py): run and node rows round-trip, and the claim is a fence."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from pipeline_engine.core import states as s
from pipeline_engine.core.records import NodeRecord
from pipeline_engine.errors import RunNotFound
from pipeline_engine.runtime import rows
from pipeline_engine.runtime.models import NodeHistory, NodeLog, NodeState, Run
from pipeline_engine.runtime.prepared import prepared_on_this_connection, statement_of
from tests.support.sql import seq_scans_in_kept_plans

pytestmark = pytest.mark.django_db


def start(run_id: str = "r1") -> bool:
    now = timezone.now()
    return rows.insert_run(run_id, '{"tree": 1}', context={"": {"values": {"x": 1}, "plain": []}},
                           frontier={"ready": [["start", "enter"]]}, meta={"task_id": 3}, time_zone="Asia/Shanghai",
                           executor="alice", priority=5, now=now, lease_until=now + timedelta(seconds=30))


def test_a_run_is_inserted_once_and_locked_back_as_it_was():
    assert start() is True
    assert start() is False  # the same id again: nothing written
    run = rows.lock_run("r1", with_tree=True)
    assert (run.state, run.meta, run.time_zone, run.executor, json.loads(run.tree_json)) == (
        s.RUNNING, {"task_id": 3}, "Asia/Shanghai", "alice", {"tree": 1})
    assert run.started_at is not None and run.started_at.tzinfo is not None
    assert rows.lock_run("r1", with_tree=False).tree_json is None
    data = run.data()
    assert data.frontier["ready"] == [["start", "enter"]] and data.frontier["active"] == {}
    assert json.loads(rows.load_tree_json("r1")) == {"tree": 1} and rows.run_locale("r1") == ("Asia/Shanghai", "alice")
    with pytest.raises(RunNotFound):
        rows.lock_run("nope", with_tree=False)


def test_node_records_round_trip_through_insert_update_and_claim():
    start()
    now = timezone.now()
    rec = NodeRecord(key="sp/a", scope="sp", node_id="a", node_type="ServiceActivity", component_code="noop",
                     name="A", state=s.RUNNING, version="v1", started_at=now, inputs={"k": [1, "x"]},
                     phase=s.PHASE_EXECUTE, wake_at=now - timedelta(seconds=1))
    rows.insert_nodes("r1", [rec])
    (loaded,) = rows.load_records("r1", ["sp/a"]).values()
    assert loaded.row_id and loaded.inputs == {"k": [1, "x"]} and loaded.wake_at is not None
    loaded.outputs = {"o": True}
    loaded.ex_data = ""
    rows.update_nodes([loaded])
    assert NodeState.objects.get(pk=loaded.row_id).outputs == {"o": True}

    assert rows.claim_node("r1", "sp/a", "v-other", 0, 30) is None  # another version: stale
    assert rows.claim_node("r1", "sp/a", "v1", 1, 30) is None  # another schedule count: stale
    claimed = rows.claim_node("r1", "sp/a", "v1", 0, 30)
    assert claimed is not None and claimed.outputs == {"o": True} and claimed.ex_data == ""
    assert claimed.wake_at is None and claimed.lease_until is not None and claimed.skip is False
    assert rows.claim_node("r1", "sp/a", "v1", 0, 30) is None  # held by a live lease now
    assert rows.renew_lease("r1", "sp/a", "v1", 30) is True
    assert rows.renew_lease("r1", "sp/a", "v-other", 30) is False
    rows.release_node("r1", "sp/a", "v1")
    assert rows.claim_node("r1", "sp/a", "v1", 0, 30) is not None  # released: due again


# Every character COPY's text format gives a meaning to, and the NULL marker spelled as data.
AWKWARD = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "end\\", "\\t", "ünï 中文", ""]


@pytest.mark.parametrize("text", AWKWARD)
def test_node_rows_keep_every_character_of_their_text_and_json(text):
    start()
    now = timezone.now()
    rec = NodeRecord(key=f"k/{text}", scope="k", node_id="a", node_type="ServiceActivity", component_code="noop",
                     name=text, state=s.FINISHED, version="v1", started_at=now, finished_at=now, ex_data=text,
                     inputs={"v": text, text: [text, None, True, 1.5]}, outputs={}, skip=True, error_ignored=False,
                     callback_data=None, inputs_override={"x": text})
    other = NodeRecord(key="plain", scope="", node_id="b", node_type="EmptyEndEvent", state=s.READY, version="v2")
    rows.insert_nodes("r1", [rec, other])
    loaded = rows.load_records("r1", [rec.key, "plain"])
    got = loaded[rec.key]
    assert (got.name, got.ex_data, got.inputs, got.inputs_override) == (
        text, text, {"v": text, text: [text, None, True, 1.5]}, {"x": text})
    assert (got.skip, got.error_ignored, got.callback_data, got.outputs) == (True, False, None, {})
    assert got.started_at == now and got.finished_at == now
    plain = loaded["plain"]
    assert (plain.name, plain.ex_data, plain.started_at, plain.inputs_override) == ("", None, None, None)


def test_load_records_reads_what_the_orm_reads_for_the_keys_asked_of_this_run_only():
    start()
    start("r2")
    now = timezone.now()
    recs = [NodeRecord(key=k, scope="", node_id=k, node_type="ServiceActivity", component_code="noop", name=k,
                       state=s.RUNNING, version="v1", started_at=now, inputs={"k": k}, phase=s.PHASE_CALLBACK,
                       callback_data={"d": [1, None]}, wake_at=now, skip=True) for k in ("a", "b", "c")]
    rows.insert_nodes("r1", recs)
    rows.insert_nodes("r2", [NodeRecord(key="a", scope="", node_id="a", node_type="EmptyEndEvent",
                                        state=s.READY, version="v9")])

    loaded = rows.load_records("r1", ["a", "c", "a", "missing"])

    assert sorted(loaded) == ["a", "c"]  # the other run's "a" and the unknown key are not there
    for key, got in loaded.items():
        row = NodeState.objects.get(run_id="r1", key=key)
        assert got == NodeRecord(row_id=row.pk, **{f: getattr(row, f) for f in rows.RECORD_FIELDS})
    assert loaded["a"].callback_data == {"d": [1, None]} and loaded["a"].skip is True
    assert rows.load_records("r2", ["a"])["a"].version == "v9"
    with CaptureQueriesContext(connection) as queries:
        assert rows.load_records("r1", []) == {}
    assert len(queries) == 0


def _line(text: str) -> list[str]:
    return ["2026-01-01T00:00:00+00:00", "INFO", text]


def test_node_logs_append_per_attempt_within_the_bound(settings):
    from pipeline_engine.runtime.models import NodeLog

    start()
    settings.SOPS_NODE_LOG_MAX_CHARS = 10
    with CaptureQueriesContext(connection) as queries:  # a new run has no log row: nothing is read
        rows.append_logs("r1", [("sp/a", "a", "v1", [_line("abc")], False),
                                ("sp/a", "a", "v1", [_line("de")], False),  # the same attempt: one row
                                ("sp/a", "a", "v2", [_line("x\ty 中")], False)], fresh=True)
    assert len(queries) == 1 and "INSERT INTO" in statement_of(queries[0]["sql"])  # one executemany, two rows
    rows.append_logs("r1", [("sp/a", "a", "v1", [_line("fgh")], False), ("b", "b", "v1", [_line("b")], True)])
    rows.append_logs("r1", [("sp/a", "a", "v1", [_line("ijk")], False)])  # 8 + 3 > 10: dropped, cut marked
    rows.append_logs("r1", [("sp/a", "a", "v1", [_line("l")], False)])  # nothing is kept after a cut
    logs = {(log.key, log.version): log for log in NodeLog.objects.filter(run_id="r1")}
    assert sorted(logs) == [("b", "v1"), ("sp/a", "v1"), ("sp/a", "v2")]
    a1 = logs[("sp/a", "v1")]
    assert ([line[2] for line in a1.lines], a1.size, a1.truncated, a1.node_id) == (["abc", "de", "fgh"], 8, True, "a")
    assert a1.created_at is not None and a1.updated_at >= a1.created_at
    assert (logs[("sp/a", "v2")].lines, logs[("sp/a", "v2")].size) == ([_line("x\ty 中")], 5)
    assert (logs[("b", "v1")].lines, logs[("b", "v1")].truncated) == ([_line("b")], True)
    with CaptureQueriesContext(connection) as queries:
        rows.append_logs("r1", [])
    assert len(queries) == 0


def test_copy_text_escapes_only_what_its_format_gives_a_meaning_to():
    assert rows.copy_text([("a", None, True, False, 3)]) == "a\t\\N\tt\tf\t3\n"
    assert rows.copy_text([("a\tb", "c\nd\re", "\\N")]) == "a\\tb\tc\\nd\\re\t\\\\N\n"
    assert rows.copy_text([]) == ""


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="COPY is PostgreSQL's")
def test_the_node_copy_is_a_statement_like_any_other_for_execute_wrappers():
    """db_retry counts completed statements through the connection's execute wrappers: a COPY
    they did not see would let a lost connection after it be retried as if nothing had changed."""
    start()
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        seen.append(sql)
        return result

    with connection.execute_wrapper(wrapper):
        rows.insert_nodes("r1", [NodeRecord(key="a", scope="", node_id="a", node_type="EmptyStartEvent",
                                            state=s.FINISHED, version="v")])
    assert len(seen) == 1 and seen[0].startswith('COPY "pipeline_engine_nodestate"')
    assert NodeState.objects.filter(run_id="r1", key="a").count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="COPY is PostgreSQL's")
def test_a_failing_node_copy_raises_djangos_error_and_writes_nothing():
    start()
    rec = NodeRecord(key="a", scope="", node_id="a", node_type="EmptyStartEvent", state=s.FINISHED, version="v")
    rows.insert_nodes("r1", [rec])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert_nodes("r1", [NodeRecord(key="b", scope="", node_id="b", node_type="EmptyEndEvent",
                                            state=s.READY, version="v"), rec])  # "a" again: unique (run, key)
    assert list(NodeState.objects.filter(run_id="r1").values_list("key", flat=True)) == ["a"]


def test_the_sweeps_queries_find_due_expired_overdue_and_owed_work():
    start()
    now = timezone.now()
    past = now - timedelta(seconds=60)
    rows.insert_nodes("r1", [
        NodeRecord(key="due", scope="", node_id="due", node_type="ServiceActivity", state=s.RUNNING, version="v",
                   wake_at=past),
        NodeRecord(key="held", scope="", node_id="held", node_type="ServiceActivity", state=s.RUNNING, version="v",
                   lease_until=past, deadline=past),
    ])
    due = rows.due_work(now, timedelta(seconds=2), timedelta(seconds=30), 10)
    assert [d[1] for d in due] == ["due"]
    assert rows.due_work(now, timedelta(seconds=2), timedelta(seconds=30), 10) == []  # nudged once per lease
    ((pk, run_id, key, version, sc),) = rows.expired_leases(now, 10)
    assert (run_id, key) == ("r1", "held") and rows.reset_expired(pk, version, now) is True
    assert rows.reset_expired(pk, version, now) is False  # no longer expired
    assert rows.overdue_nodes(now, 10) == [("r1", "held", "v")]
    Run.objects.filter(pk="r1").update(lease_until=past)
    assert rows.owed_runs(now, timedelta(seconds=30), 10) == ["r1"]
    assert rows.owed_runs(now, timedelta(seconds=30), 10) == []  # its lease moved on


def test_the_sweep_takes_the_longest_waiting_work_and_runs_first():
    start("r1")
    now = timezone.now()
    rows.insert_nodes("r1", [
        NodeRecord(key=key, scope="", node_id=key, node_type="ServiceActivity", state=s.RUNNING, version="v",
                   wake_at=now - timedelta(seconds=age)) for key, age in (("newer", 10), ("oldest", 90), ("older", 50))])
    assert [d[1] for d in rows.due_work(now, timedelta(seconds=2), timedelta(seconds=30), 2)] == ["oldest", "older"]
    assert [d[1] for d in rows.due_work(now, timedelta(seconds=2), timedelta(seconds=30), 2)] == ["newer"]
    for run_id, age in (("r2", 5), ("r3", 80), ("r4", 40)):
        start(run_id)
        Run.objects.filter(pk=run_id).update(lease_until=now - timedelta(seconds=age))
    Run.objects.filter(pk="r1").update(lease_until=None)
    assert rows.owed_runs(now, timedelta(seconds=30), 2) == ["r3", "r4"]
    assert rows.owed_runs(now, timedelta(seconds=30), 2) == ["r2"]


# --------------------------------------------------------------------------- rows sent with the run's
def _awkward_record(text: str, key: str) -> NodeRecord:
    now = timezone.now()
    return NodeRecord(key=key, scope="k", node_id="a", node_type="ServiceActivity", component_code="noop",
                      name=text, state=s.FINISHED, version="v1", started_at=now, finished_at=now, ex_data=text,
                      inputs={"v": text, text: [text, None, True, 1.5, 2**70]}, outputs={"s": text}, skip=True,
                      error_ignored=False, callback_data=None, inputs_override={"x": text}, retry=3,
                      comp_state={"n": {"deep": [text]}}, wake_at=now - timedelta(seconds=5))


@pytest.mark.parametrize("text", [*AWKWARD, "plain"])
@pytest.mark.parametrize("run_id", ["r1", "run\\1"])
def test_the_node_copy_is_the_value_by_value_copy_text_for_any_row(text, run_id):
    """The node COPY's fast text (no escaping looked for value by value) is exactly what
    copy_text writes, whichever value holds a character COPY gives a meaning to."""
    plain = NodeRecord(key="b", scope="", node_id="b", node_type="EmptyEndEvent", state=s.READY, version="v2")
    named = NodeRecord(key="c", scope="", node_id="c", node_type="EmptyEndEvent", name=text, version="v3")
    for recs in ([plain, _awkward_record(text, "a"), plain], [plain, named]):  # in JSON and text, in text alone
        expected = rows.copy_text([(run_id, *row) for row in rows._node_values(recs)])
        assert rows._node_copy_text(run_id, recs) == expected
        assert expected.count("\n") == len(recs)  # one line per row, whatever the values hold


def test_a_node_copy_with_a_number_where_text_belongs_writes_its_text():
    odd = NodeRecord(key="a", scope="", node_id="a", node_type="ServiceActivity", name=7, version="v1")  # type: ignore[arg-type]
    assert rows._node_copy_text("r1", [odd]).split("\t")[6] == "7"


def _as_orm_reads(run_id: str) -> list[dict]:
    return [{f: getattr(n, f) for f in ("key", *rows.RECORD_FIELDS)}
            for n in NodeState.objects.filter(run_id=run_id).order_by("id")]


def _start_with(run_id: str, nodes: list[NodeRecord]) -> bool:
    now = timezone.now()
    return rows.insert_run(run_id, '{"tree": 2}', context={}, frontier={"ready": []}, meta={}, time_zone="UTC",
                           executor="", priority=1, now=now, lease_until=None, steps=1, nodes=nodes)


@pytest.mark.parametrize("text", AWKWARD)
def test_every_way_of_writing_node_rows_writes_the_same_rows(text):
    recs = [_awkward_record(text, "a"), NodeRecord(key="b", scope="", node_id="b", node_type="EmptyEndEvent",
                                                   state=s.READY, version="v2")]
    start("copied")
    rows.insert_nodes("copied", recs)  # COPY on PostgreSQL
    assert _start_with("with-run", recs)  # the run's own statement
    start("stepped")
    rows.save_step("stepped", recs, [], None)  # a step's writes
    expected = _as_orm_reads("copied")
    assert expected[0]["inputs"] == {"v": text, text: [text, None, True, 1.5, 2**70]}  # what was given
    assert _as_orm_reads("with-run") == expected and _as_orm_reads("stepped") == expected


def test_a_start_inserts_its_nodes_in_the_runs_statement_in_order_and_none_for_a_run_that_exists():
    recs = [NodeRecord(key=f"n{i}", scope="", node_id=f"n{i}", node_type="ServiceActivity", state=s.FINISHED,
                       version=f"v{i}") for i in range(12)]
    with CaptureQueriesContext(connection) as queries:
        assert _start_with("r1", recs) is True
    if connection.vendor == "postgresql":
        assert len(queries) == 1  # one round trip
    assert [n["key"] for n in _as_orm_reads("r1")] == [r.key for r in recs]  # ids follow the order given
    assert rows.lock_run("r1", with_tree=True).tree_json == '{"tree": 2}'

    # The same run id again: False, and neither the run nor its nodes change.
    assert _start_with("r1", [NodeRecord(key="other", scope="", node_id="x", node_type="EmptyEndEvent",
                                         state=s.READY, version="v")]) is False
    assert [n["key"] for n in _as_orm_reads("r1")] == [r.key for r in recs]
    assert _start_with("r2", []) is True and NodeState.objects.filter(run_id="r2").count() == 0


def test_a_start_with_more_nodes_than_its_statement_takes_writes_them_all(monkeypatch):
    monkeypatch.setattr(rows, "NODES_WITH_RUN", 2)
    recs = [NodeRecord(key=f"n{i}", scope="", node_id=f"n{i}", node_type="ServiceActivity", state=s.READY,
                       version="v") for i in range(3)]
    assert _start_with("r1", recs) is True
    assert [n["key"] for n in _as_orm_reads("r1")] == ["n0", "n1", "n2"]
    assert _start_with("r1", recs[:1]) is False  # the conflict is seen on this path too
    assert NodeState.objects.filter(run_id="r1").count() == 3


def test_a_steps_writes_change_exactly_its_rows_and_the_run_in_one_round_trip():
    start()
    start("r2")
    now = timezone.now()
    old = [NodeRecord(key=k, scope="", node_id=k, node_type="ServiceActivity", state=s.RUNNING, version="v1",
                      inputs={"k": k}) for k in ("a", "b")]
    rows.insert_nodes("r1", old)
    rows.insert_nodes("r2", [NodeRecord(key="a", scope="", node_id="a", node_type="ServiceActivity",
                                        state=s.RUNNING, version="v1")])
    loaded = rows.load_records("r1", ["a", "b"])
    a = loaded["a"]
    a.state, a.outputs, a.ex_data, a.finished_at, a.skip, a.callback_data = s.FINISHED, {"o": "\t"}, "x", now, True, None
    a.inputs_override, a.schedule_count = {"i": [1]}, 4
    new = NodeRecord(key="c", scope="", node_id="c", node_type="EmptyEndEvent", state=s.READY, version="v3")
    data = rows.lock_run("r1", with_tree=False).data()
    data.state, data.finished_at, data.outputs = s.FINISHED, now, {"out": 1}
    with CaptureQueriesContext(connection) as queries:
        rows.save_step("r1", [new], [a], (data, s.FINISHED, None))
    if connection.vendor == "postgresql":
        assert len(queries) == 1
    got = rows.load_records("r1", ["a", "b", "c"])
    assert got["a"] == a  # every field as the step left it
    assert (got["a"].state, got["a"].outputs, got["a"].ex_data, got["a"].finished_at, got["a"].skip) == (
        s.FINISHED, {"o": "\t"}, "x", now, True)
    assert (got["a"].inputs_override, got["a"].schedule_count, got["a"].inputs) == ({"i": [1]}, 4, {"k": "a"})
    assert got["b"].state == s.RUNNING and got["c"].state == s.READY  # b untouched, c new
    assert rows.load_records("r2", ["a"])["a"].state == s.RUNNING  # the other run's "a" untouched
    run = Run.objects.get(pk="r1")
    assert (run.state, run.outputs, run.finished_at, run.steps) == (s.FINISHED, {"out": 1}, now, 1)

    with CaptureQueriesContext(connection) as queries:
        rows.save_step("r1", [], [], None)  # nothing changed: nothing sent
    assert len(queries) == 0
    rows.save_step("r1", [], [got["b"]], None)  # the run row is left alone when it did not change
    assert Run.objects.get(pk="r1").steps == 1


def test_a_step_with_more_new_nodes_than_its_statement_takes_writes_them_all(monkeypatch):
    monkeypatch.setattr(rows, "NODES_WITH_RUN", 1)
    start()
    recs = [NodeRecord(key=f"n{i}", scope="", node_id=f"n{i}", node_type="ServiceActivity", state=s.READY,
                       version="v") for i in range(3)]
    data = rows.lock_run("r1", with_tree=False).data()
    rows.save_step("r1", recs, [], (data, s.RUNNING, None))
    assert [n["key"] for n in _as_orm_reads("r1")] == ["n0", "n1", "n2"] and Run.objects.get(pk="r1").steps == 1


def test_a_claim_can_bring_the_runs_tree_with_the_row_under_the_same_fence():
    start()
    rec = NodeRecord(key="a", scope="", node_id="a", node_type="ServiceActivity", component_code="noop",
                     state=s.RUNNING, version="v1", wake_at=timezone.now() - timedelta(seconds=1))
    rows.insert_nodes("r1", [rec])
    assert rows.claim_node_with_tree("r1", "a", "v2", 0, 30) is None  # stale: nothing claimed, nothing read
    with CaptureQueriesContext(connection) as queries:
        claimed = rows.claim_node_with_tree("r1", "a", "v1", 0, 30)
    assert claimed is not None and len(queries) == 1
    got, tree_json = claimed
    assert (got.key, got.version, got.wake_at) == ("a", "v1", None) and got.lease_until is not None
    if connection.vendor == "postgresql":
        assert json.loads(tree_json) == {"tree": 1}  # the run's tree text, read by the claim
    else:
        assert tree_json is None  # the caller reads it
    assert rows.claim_node_with_tree("r1", "a", "v1", 0, 30) is None  # held by the lease now


def _seq_scans(table: str) -> int:
    """Sequential scans of `table` in this transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        return int(cursor.fetchone()[0])


def _node_seq_scans() -> int:
    return _seq_scans(NodeState._meta.db_table)


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="plans of prepared statements are PostgreSQL's")
def test_a_steps_node_update_never_scans_the_node_table_however_small_it_was_when_planned():
    """PostgreSQL keeps a prepared statement's generic plan once it has made five custom ones.
    Made while the node table was small, the UPDATE's plan must still read one run's rows by
    index when the table is big, not scan the whole table on every step."""
    start("r1")
    rows.insert_nodes("r1", [NodeRecord(key="a", scope="", node_id="a", node_type="ServiceActivity", version="v1")])
    rec = rows.load_records("r1", ["a"])["a"]
    for attempt in range(8):  # past the five custom plans: the generic one is kept from here on
        rec.retry = attempt
        rows.save_step("r1", [], [rec], None)
    start("big")  # the table grows under the kept plan
    rows.insert_nodes("big", [NodeRecord(key=f"k{i}", scope="", node_id=f"k{i}", node_type="ServiceActivity",
                                         version="v1") for i in range(3000)])
    before = _node_seq_scans()
    rec.retry = 99
    rows.save_step("r1", [], [rec], None)
    assert _node_seq_scans() == before
    assert rows.load_records("r1", ["a"])["a"].retry == 99
    assert rows.load_records("big", ["k0"])["k0"].retry == 0  # the other run's rows are untouched


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="plans of prepared statements are PostgreSQL's")
def test_no_prepared_statement_of_the_engine_is_planned_to_scan_a_table_that_grows():
    """The plan PostgreSQL keeps for a prepared statement may be one made on nearly empty tables:
    none of the engine's may then be a scan of a table that grows with every run."""
    start("r1")
    rows.save_step("r1", [NodeRecord(key=k, scope="", node_id=k, node_type="ServiceActivity", version="v1",
                                     wake_at=timezone.now() - timedelta(seconds=1))
                          for k in ("a", "b")], [], None)
    run = rows.lock_run("r1", with_tree=True)
    rows.lock_run("r1", with_tree=False)
    loaded = rows.load_records("r1", ["a", "b"])
    rows.save_step("r1", [], list(loaded.values()), (run.data(), s.RUNNING, None))
    rows.claim_node("r1", "a", "v1", 0, 30)
    rows.append_logs("r1", [("a", "a", "v1", [_line("x")], False)], fresh=True)
    rows.append_logs("r1", [("a", "a", "v1", [_line("y")], False)])
    _start_with("r2", [NodeRecord(key="c", scope="", node_id="c", node_type="EmptyEndEvent", version="v1")])
    growing = [model._meta.db_table for model in (NodeState, Run, NodeLog, NodeHistory)]
    statements = prepared_on_this_connection()
    assert any(sql.startswith("UPDATE") and "json_populate_recordset" in sql for sql in statements.values())
    assert seq_scans_in_kept_plans(statements, growing) == {}


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the planner's choice is PostgreSQL's")
def test_the_sweep_reads_pending_work_by_its_partial_indexes_on_a_big_table_without_statistics():
    """Every second the sweep looks for due timers, expired leases, timeouts and owed runs. On
    a node table PostgreSQL has no statistics of, it planned each read as a scan of the whole
    table; the reads must go through the partial indexes, and still find the pending work."""
    now = timezone.now()
    for run_id in ("done", "r1"):
        start(run_id)
    rows.insert_nodes("done", [NodeRecord(key=f"k{i}", scope="", node_id=f"k{i}", node_type="ServiceActivity",
                                          state=s.FINISHED, version="v1") for i in range(4000)])
    rows.insert_nodes("r1", [
        NodeRecord(key="due", scope="", node_id="due", node_type="ServiceActivity", state=s.RUNNING, version="v1",
                   wake_at=now - timedelta(seconds=60)),
        NodeRecord(key="leased", scope="", node_id="leased", node_type="ServiceActivity", state=s.RUNNING,
                   version="v1", lease_until=now - timedelta(seconds=60)),
        NodeRecord(key="late", scope="", node_id="late", node_type="ServiceActivity", state=s.RUNNING,
                   version="v1", deadline=now - timedelta(seconds=60))])
    Run.objects.filter(pk="r1").update(lease_until=now - timedelta(seconds=60))
    nodes, runs = NodeState._meta.db_table, Run._meta.db_table
    before = _seq_scans(nodes), _seq_scans(runs)
    assert [d[1] for d in rows.due_work(now, timedelta(seconds=2), timedelta(seconds=30), 500)] == ["due"]
    assert [d[2] for d in rows.expired_leases(now, 500)] == ["leased"]
    assert [d[1] for d in rows.overdue_nodes(now, 500)] == ["late"]
    assert rows.owed_runs(now, timedelta(seconds=30), 500) == ["r1"]
    assert (_seq_scans(nodes), _seq_scans(runs)) == before
    with connection.cursor() as cursor:  # the setting ended with each read
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"


_CALLS = st.lists(  # one component call's lines (their messages) and whether its logger cut them
    st.tuples(st.lists(st.text(alphabet="ab中\t", max_size=4), max_size=4), st.booleans()), min_size=1, max_size=6)


@examples(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=_CALLS, limit=st.integers(min_value=0, max_value=12))
def test_an_attempts_stored_log_is_node_logs_bound_over_its_calls(calls, limit):
    """Whatever the calls, the row append_logs leaves (PostgreSQL: an upsert that bounds on the
    server) is the fold of node_log.bounded over them: lines kept in order while they fit, the
    first that does not cuts the row, and a cut row takes nothing more."""
    import uuid

    from django.conf import settings as django_settings

    from pipeline_engine.core.components import node_log

    run_id = uuid.uuid4().hex
    kept: list[list[str]] = []
    cut = False
    old = getattr(django_settings, "SOPS_NODE_LOG_MAX_CHARS", None)
    django_settings.SOPS_NODE_LOG_MAX_CHARS = limit
    try:
        for i, (messages, truncated) in enumerate(calls):
            lines = [["2026-01-01T00:00:00+00:00", "INFO", m] for m in messages]
            rows.append_logs(run_id, [("a", "a", "v1", lines, truncated)], fresh=i == 0)
            if not cut:
                kept, dropped = node_log.bounded(kept, lines, limit)
                cut = truncated or dropped
    finally:
        if old is None:
            del django_settings.SOPS_NODE_LOG_MAX_CHARS
        else:
            django_settings.SOPS_NODE_LOG_MAX_CHARS = old
    log = NodeLog.objects.get(run_id=run_id)
    assert (log.lines, log.size, log.truncated) == (kept, sum(len(x[2]) for x in kept), cut)
