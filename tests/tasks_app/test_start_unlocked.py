"""start_task_in without a lock or a transaction (PostgreSQL, outside a caller's transaction): the
versioned read and one query, nothing written when the row changed in between, and the locked
start's answers then; the real engine, the real database (no test transaction around it)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from pipeline_engine import api
from pipeline_engine.errors import InvalidOperation as EngineInvalidOperation
from pipeline_engine.runtime.models import Run
from sops_common.errors import InvalidOperation, NotFound
from tasks_app import services
from tasks_app.models import CurrentFlow, TaskInstance, TaskOperation
from tests.support import task_trees as trees
from tests.support.sql import statements
from tests.support.task_world import make_template, make_world

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's implicit transactions")]


@pytest.fixture
def world(transactional_db):
    return make_world()


@pytest.fixture
def chain(world):
    b = trees.TreeBuilder()
    for node_id in ("a", "b"):
        b.act(trees.activity(node_id, "noop"))
    b.chain("start", "a", "b", "end")
    return make_template(61, "two no-ops", b.build(), world.biz2)


def _new(world, chain, **kw) -> TaskInstance:
    return services.create_task(business=world.biz2, template=chain, name="t", creator="alice", app_code="app_code",
                                **kw)


def _start(world, task_id) -> None:
    services.start_task_in(business=world.biz2, task_id=str(task_id), executor="bob", source="api")


def _runs_of(task_id: int) -> int:
    return Run.objects.filter(meta__task_id=task_id).count()


def _starts_of(task_id: int) -> int:
    return TaskOperation.objects.filter(task_id=task_id, operate_type="start").count()


def test_a_start_is_the_versioned_read_and_one_query(world, chain):
    task = _new(world, chain)
    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        _start(world, task.pk)
    sql = statements(queries)
    assert len(sql) == 2, sql
    assert sql[0].startswith("SELECT") and '"tasks_app_taskinstance".xmin' in sql[0]
    # the run's rows, the guarded UPDATE of the task, its audit row
    assert sql[1].startswith("WITH run AS (INSERT INTO \"pipeline_engine_run\"") and "sops_expect_one_row" in sql[1]
    assert sql[1].rstrip().split("; ")[-1].startswith('INSERT INTO "tasks_app_taskoperation"')
    task.refresh_from_db()
    assert task.is_started and task.is_finished and task.executor == "bob" and task.start_time is not None
    assert api.get_status_tree(task.run_id)["state"] == "FINISHED"
    assert _runs_of(task.pk) == 1 and _starts_of(task.pk) == 1


def _between_read_and_write(monkeypatch, change):
    """Run `change` after the start read the task and walked, before its one query."""
    original = api.start_pipeline_into

    def walked_then_changed(writes, tree, **kw):
        started = original(writes, tree, **kw)
        change()
        return started

    monkeypatch.setattr(api, "start_pipeline_into", walked_then_changed)


def test_a_row_started_in_between_writes_nothing_and_answers_already_started(world, chain, monkeypatch):
    task = _new(world, chain)
    _between_read_and_write(monkeypatch, lambda: TaskInstance.objects.filter(pk=task.pk).update(
        is_started=True, run_id="elsewhere"))
    with pytest.raises(InvalidOperation, match="task already started"):
        _start(world, task.pk)
    assert _runs_of(task.pk) == 0 and _starts_of(task.pk) == 0
    assert TaskInstance.objects.get(pk=task.pk).run_id == "elsewhere"


def test_a_row_edited_in_between_is_started_under_the_lock_with_the_edit(world, chain, monkeypatch):
    task = _new(world, chain)
    edited = {**task.pipeline_tree, "constants": {"${x}": {"key": "${x}", "value": "new", "name": "x",
                                                          "source_type": "custom", "custom_type": "input",
                                                          "show_type": "show", "index": 0}}}
    _between_read_and_write(monkeypatch, lambda: TaskInstance.objects.filter(pk=task.pk).update(
        pipeline_tree=edited))
    _start(world, task.pk)
    task.refresh_from_db()
    assert task.is_started and task.is_finished
    assert _runs_of(task.pk) == 1 and _starts_of(task.pk) == 1  # the first attempt left nothing
    assert "${x}" in Run.objects.get(pk=task.run_id).tree["constants"]  # the tree as edited


def test_two_starts_at_once_start_one_run(world, chain, monkeypatch):
    task = _new(world, chain)
    both_walked = threading.Barrier(2, timeout=10)
    original = api.start_pipeline_into

    def walk_then_wait(writes, tree, **kw):
        started = original(writes, tree, **kw)
        both_walked.wait()  # each has read the row as not started
        return started

    monkeypatch.setattr(api, "start_pipeline_into", walk_then_wait)
    outcomes: list[str] = []

    def start() -> None:
        try:
            _start(world, task.pk)
            outcomes.append("started")
        except InvalidOperation as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes) == ["started", "task already started"]
    assert _runs_of(task.pk) == 1 and _starts_of(task.pk) == 1


@pytest.mark.parametrize("case", ["unknown", "other business", "deleted"])
def test_a_task_out_of_reach_is_not_found(world, chain, case):
    task = _new(world, chain)
    business, task_id = world.biz2, task.pk
    if case == "unknown":
        task_id += 1000
    elif case == "other business":
        business = world.biz1
    else:
        TaskInstance.objects.filter(pk=task.pk).update(is_deleted=True)
    with pytest.raises(NotFound):
        services.start_task_in(business=business, task_id=task_id, executor="bob", source="api")
    assert _runs_of(task.pk) == 0


def test_a_started_or_claimed_task_is_refused_with_nothing_written(world, chain):
    task = _new(world, chain)
    _start(world, task.pk)
    with pytest.raises(InvalidOperation, match="task already started"):
        _start(world, task.pk)
    claimed = _new(world, chain)
    TaskInstance.objects.filter(pk=claimed.pk).update(current_flow=CurrentFlow.FUNC_CLAIM)
    with pytest.raises(InvalidOperation, match="cannot be started"):
        _start(world, claimed.pk)
    assert _runs_of(task.pk) == 1 and _runs_of(claimed.pk) == 0 and _starts_of(claimed.pk) == 0


def test_a_task_with_a_callback_url_starts_under_the_lock(world, chain):
    task = _new(world, chain)
    # set in the row: the egress policy refuses a loopback address at create (and at delivery)
    TaskInstance.objects.filter(pk=task.pk).update(callback_url="http://127.0.0.1:9/hook")
    with CaptureQueriesContext(connection) as queries:
        _start(world, task.pk)
    assert not any("sops_expect_one_row" in s for s in statements(queries))
    assert any("FOR UPDATE" in s for s in statements(queries))
    task.refresh_from_db()
    assert task.is_started and task.is_finished and task.callback_records.exists()


def test_a_run_id_given_beforehand_and_taken_is_refused_as_the_locked_start_refuses(world, chain):
    first = _new(world, chain)
    _start(world, first.pk)
    first.refresh_from_db()
    task = _new(world, chain)
    TaskInstance.objects.filter(pk=task.pk).update(run_id=first.run_id)
    with pytest.raises(EngineInvalidOperation, match="has already been started"):
        _start(world, task.pk)
    assert not TaskInstance.objects.get(pk=task.pk).is_started and _starts_of(task.pk) == 0


# --- create_and_start_task as one query ------------------------------------------------------------

def _cas(world, chain, **kw) -> TaskInstance:
    return services.create_and_start_task(business=world.biz2, template=chain, name=kw.pop("name", "both"),
                                          creator="alice", app_code="app_code", executor="bob", source="api", **kw)


_COMPARED = ("business_id", "template_id", "template_source", "template_version", "name", "description", "creator",
             "executor", "claimer", "create_method", "create_info", "flow_type", "current_flow", "category",
             "is_started", "is_finished", "is_revoked", "is_deleted", "callback_url", "request_id",
             "periodic_task_id", "callback_version")


def test_create_and_start_is_a_key_and_one_query_and_writes_what_the_transaction_writes(world, chain):
    _cas(world, chain, name="warm")  # the process looks its key's sequence up once
    with CaptureQueriesContext(connection) as queries:
        fast = _cas(world, chain)
    sql = statements(queries)
    assert len(sql) == 2, sql
    assert sql[0].startswith("SELECT nextval(")
    assert 'INSERT INTO "tasks_app_taskinstance"' in sql[1] and 'INSERT INTO "pipeline_engine_run"' in sql[1]
    assert sql[1].rstrip().split("; ")[-1].startswith('INSERT INTO "tasks_app_taskoperation"')
    from django.db import transaction

    with transaction.atomic():  # the same call in a caller's transaction takes the transactional way
        slow = _cas(world, chain)
    fast_row, slow_row = TaskInstance.objects.get(pk=fast.pk), TaskInstance.objects.get(pk=slow.pk)
    assert {f: getattr(fast_row, f) for f in _COMPARED} == {f: getattr(slow_row, f) for f in _COMPARED}
    assert fast_row.is_finished and fast_row.start_time is not None and fast_row.finish_time is not None
    assert fast_row.pipeline_tree == fast.pipeline_tree and fast_row.run_id == fast.run_id
    assert Run.objects.get(pk=fast.run_id).meta == {"task_id": fast.pk}
    assert api.get_status_tree(fast.run_id)["state"] == "FINISHED"
    for row in (fast_row, slow_row):
        assert list(row.operations.order_by("id").values_list("operate_type", "operator", "operate_source")) == [
            ("create", "alice", "api"), ("start", "bob", "api")]


def test_create_and_start_of_a_task_that_cannot_start_writes_nothing(world, chain):
    before = TaskInstance.objects.count()
    with pytest.raises(InvalidOperation, match="cannot be started"):
        _cas(world, chain, flow_type="common_func")
    assert TaskInstance.objects.count() == before and not Run.objects.exists()


def test_create_and_start_that_fails_in_its_query_leaves_no_task(world, chain, monkeypatch):
    from django.db import IntegrityError

    taken = _cas(world, chain, name="first").run_id
    before = (TaskInstance.objects.count(), TaskOperation.objects.count())
    monkeypatch.setattr(services, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=taken)))
    with pytest.raises(IntegrityError):  # the run's id is taken: its INSERT fails the whole query
        _cas(world, chain, name="second")
    assert (TaskInstance.objects.count(), TaskOperation.objects.count()) == before
    assert not TaskInstance.objects.filter(name="second").exists()


def test_create_and_start_whose_first_step_logs_is_made_once_in_a_transaction(world, monkeypatch):
    from tests.pipeline_engine.components_for_tests import inline_logger

    with inline_logger("testing_cas_chatty", "hello") as code:
        b = trees.TreeBuilder()
        b.act(trees.activity("talk", code))
        b.chain("start", "talk", "end")
        template = make_template(62, "chatty", b.build(), world.biz2)
        with CaptureQueriesContext(connection) as queries:
            task = _cas(world, template, name="chatty")
    assert any("nextval" in s for s in statements(queries))  # tried, declined, done the other way
    assert TaskInstance.objects.filter(name="chatty").count() == 1
    task.refresh_from_db()
    assert task.is_finished and _runs_of(task.pk) == 1
    talk = next(iter(task.pipeline_tree["activities"]))
    assert [line[2] for line in api.get_node_logs(task.run_id, talk)[0]["lines"]] == ["hello"]


def test_create_and_start_with_a_request_id_answers_the_same_task(world, chain):
    first = _cas(world, chain, request_id="once")
    again = _cas(world, chain, request_id="once")
    assert again.pk == first.pk and TaskInstance.objects.filter(request_id="once").count() == 1
    assert _runs_of(first.pk) == 1 and _starts_of(first.pk) == 1
