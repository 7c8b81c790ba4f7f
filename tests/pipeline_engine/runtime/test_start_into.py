"""A start whose writes join the caller's (api.start_pipeline_into) and a batch sent as one query
without a transaction (Writes.send_as_one, update_if_unchanged, compiled_first_versioned)."""
from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

from access_app.models import Business
from pipeline_engine import api
from pipeline_engine.runtime.models import NodeState, Run
from tests.pipeline_engine.components_for_tests import inline_logger
from tests.pipeline_engine.runtime.test_step import _sent
from tests.pipeline_engine.trees import TreeBuilder, linear

PG_ONLY = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's implicit transactions")


def _by_pk(pk: int):
    return Business.objects.filter(pk=pk)


@pytest.mark.django_db
def test_a_start_into_writes_adds_one_statement_and_sends_nothing_itself(monkeypatch):
    sent = _sent(monkeypatch)
    writes = api.Writes()
    run_id = uuid.uuid4().hex
    started = api.start_pipeline_into(writes, linear(2), run_id=run_id,
                                      meta={"task_id": 1})
    if connection.vendor != "postgresql":
        assert started is None  # elsewhere the writes are not one statement
        return
    assert started is not None and started.run_id == run_id and started.state == "FINISHED"
    assert not Run.objects.filter(pk=run_id).exists()  # added, not sent
    writes.send()  # in the test's transaction, as a caller inside one would
    assert Run.objects.get(pk=run_id).state == "FINISHED"
    assert NodeState.objects.filter(run_id=run_id).count() == 4
    assert sent == []


@pytest.mark.django_db
def test_a_first_step_that_logs_adds_its_lines_on_postgresql_and_declines_elsewhere():
    """On PostgreSQL the first step's log lines join the run's writes (an upsert that reads
    nothing first); elsewhere they need a read, so the start declines and adds nothing."""
    from pipeline_engine.runtime.models import NodeLog

    writes = api.Writes()
    run_id = uuid.uuid4().hex
    with inline_logger("testing_into_chatty") as code:
        started = api.start_pipeline_into(writes, linear(1, code), run_id=run_id)
    if connection.vendor != "postgresql":
        assert started is None
        writes.send()
        assert not Run.objects.exists() and not NodeLog.objects.exists()
        return
    assert started is not None and started.state == "FINISHED"
    assert not NodeLog.objects.exists()  # added, not sent
    writes.send()
    assert Run.objects.get(pk=run_id).state == "FINISHED"
    (log,) = NodeLog.objects.filter(run_id=run_id)
    assert log.lines and log.size == sum(len(line[2]) for line in log.lines) and not log.truncated


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_sent_as_one_the_start_is_written_and_its_messages_go_after(monkeypatch):
    sent = _sent(monkeypatch)
    b = TreeBuilder()
    b.act("slow", "bench_poll")
    b.chain(b.start_id, "slow", b.end_id)
    writes = api.Writes()
    run_id = uuid.uuid4().hex
    started = api.start_pipeline_into(writes, b.build(), run_id=run_id)
    assert started is not None and started.state == "RUNNING" and sent == []
    assert writes.send_as_one()
    assert sent == [("component", run_id, "slow")]  # at once: there is no transaction to wait for
    assert Run.objects.get(pk=run_id).state == "RUNNING"


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_row_changed_since_its_versioned_read_rolls_back_every_write_of_the_query(monkeypatch):
    sent = _sent(monkeypatch)
    biz = Business.objects.create(bk_biz_id=501, name="before")
    read = api.compiled_first_versioned("test:biz", _by_pk, pk=biz.pk)
    assert read is not None and read[0].name == "before" and read[1]
    assert api.compiled_first_versioned("test:biz", _by_pk, pk=biz.pk)[1] == read[1]  # a read changes nothing
    Business.objects.filter(pk=biz.pk).update(name="edited")
    assert api.compiled_first_versioned("test:biz", _by_pk, pk=biz.pk)[1] != read[1]
    writes = api.Writes()
    run_id = uuid.uuid4().hex
    assert api.start_pipeline_into(writes, linear(1), run_id=run_id) is not None
    writes.update_if_unchanged(Business, biz.pk, read[1], {"name": "mine"})
    ran: list[int] = []
    writes.after(lambda: ran.append(1))
    assert writes.send_as_one() is False
    assert Business.objects.get(pk=biz.pk).name == "edited" and not Run.objects.filter(pk=run_id).exists()
    assert ran == [] and sent == []
    again = api.compiled_first_versioned("test:biz", _by_pk, pk=biz.pk)
    writes.update_if_unchanged(Business, biz.pk, again[1], {"name": "mine"})
    writes.after(lambda: ran.append(2))
    assert writes.send_as_one() is True
    assert Business.objects.get(pk=biz.pk).name == "mine" and ran == [2]
    assert api.compiled_first_versioned("test:biz", _by_pk, pk=biz.pk) is not None


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_send_as_one_refuses_a_transaction_and_a_read_before_the_last_statement():
    biz = Business.objects.create(bk_biz_id=502, name="b")
    with transaction.atomic():
        writes = api.Writes()
        writes.update_rows(Business, {"pk": biz.pk}, {"name": "x"})
        with pytest.raises(RuntimeError, match="outside any transaction"):
            writes.send_as_one()
    writes = api.Writes()
    writes.insert_rows([Business(bk_biz_id=503, name="c")])  # its key is read back
    writes.update_rows(Business, {"pk": biz.pk}, {"name": "x"})
    with pytest.raises(ValueError, match="only the last statement"):
        writes.send_as_one()
    assert Business.objects.get(pk=biz.pk).name == "b" and not Business.objects.filter(bk_biz_id=503).exists()


@pytest.mark.django_db
def test_a_versioned_read_is_postgresqls():
    if connection.vendor == "postgresql":
        assert api.compiled_first_versioned("test:none", _by_pk, pk=10**9) is None
    else:
        with pytest.raises(NotImplementedError):
            api.compiled_first_versioned("test:none", _by_pk, pk=1)


@pytest.mark.django_db
def test_a_key_taken_first_names_the_row_an_insert_keyed_writes():
    if connection.vendor != "postgresql":
        with pytest.raises(NotImplementedError):
            api.next_key(Business)
        return
    first, second = api.next_key(Business), api.next_key(Business)
    assert second > first
    biz = Business(pk=second, bk_biz_id=504, name="keyed")
    writes = api.Writes()
    writes.insert_keyed(biz)
    assert not Business.objects.filter(pk=second).exists()  # added, not sent
    writes.send()
    row = Business.objects.get(pk=second)
    assert (row.bk_biz_id, row.name) == (504, "keyed") and row.created_at is not None  # auto_now_add applied
    assert Business.objects.create(bk_biz_id=505, name="after").pk > second  # the sequence went on from there
    with pytest.raises(ValueError, match="no primary key"):
        api.Writes().insert_keyed(Business(bk_biz_id=506, name="no key"))


@pytest.mark.django_db
def test_keys_taken_together_are_distinct_and_new():
    if connection.vendor != "postgresql":
        with pytest.raises(NotImplementedError):
            api.next_keys(Business, 3)
        return
    before = api.next_key(Business)
    keys = api.next_keys(Business, 5)
    assert len(keys) == len(set(keys)) == 5 and min(keys) > before
    assert api.next_keys(Business, 0) == []
    assert api.next_key(Business) > max(keys)  # the sequence went on past all of them


@pytest.mark.django_db
def test_joined_writes_are_sent_after_the_batchs_own_and_leave_the_joined_empty(django_capture_on_commit_callbacks):
    biz = Business.objects.create(bk_biz_id=507, name="first")
    batch, item = api.Writes(), api.Writes()
    ran: list[str] = []
    batch.update_rows(Business, {"pk": biz.pk}, {"name": "batch"})
    batch.after(lambda: ran.append("batch"))
    item.update_rows(Business, {"pk": biz.pk}, {"name": "item"})  # sent second: its value stays
    item.after(lambda: ran.append("item"))
    batch.join(item)
    item.send()  # emptied by the join: sends nothing and registers nothing
    assert Business.objects.get(pk=biz.pk).name == "first"
    with django_capture_on_commit_callbacks(execute=True):
        batch.send()
    assert Business.objects.get(pk=biz.pk).name == "item" and ran == ["batch", "item"]


@pytest.mark.django_db
def test_rows_inserted_without_reading_their_keys_end_no_round_trip(django_assert_num_queries):
    writes = api.Writes()
    unread = [Business(bk_biz_id=508, name="a"), Business(bk_biz_id=509, name="b")]
    writes.insert_rows(unread[:1], read_keys=False)
    writes.insert_rows(unread[1:], read_keys=False)
    read = Business(bk_biz_id=510, name="c")
    writes.insert_rows([read])
    round_trips = 1 if connection.vendor == "postgresql" else 3
    with django_assert_num_queries(round_trips):
        writes.send()
    assert [b.pk for b in unread] == [None, None] and read.pk is not None  # only the read key is set
    assert set(Business.objects.filter(bk_biz_id__in=[508, 509, 510]).values_list("name", flat=True)) == {"a", "b", "c"}
