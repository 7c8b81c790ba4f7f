"""Writes on tasks: create, start, operate, claim, and recording run ends, with the engine faked."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from pipeline_engine import api as engine_api
from sops_common.errors import InvalidInput, InvalidOperation, NotFound
from tasks_app import services
from tasks_app.models import TaskInstance, TaskOperation
from tests.support.sql import statements as sql_of
from tests.support.task_world import create_task, ended_run

pytestmark = pytest.mark.django_db

ID = re.compile(r"^node[0-9a-f]{28}$")




def test_create_records_origin_and_regenerates_ids(world, fake_engine):
    task = create_task(world, constants={"${bk_timing}": "3", "${not_defined}": "x"}, description="why")
    assert task.create_method == "api" and task.create_info == "app_code" and task.creator == "alice"
    assert task.template_id == 10 and task.template_version == world.templates[10].version
    assert task.category == "OpsTools" and task.current_flow == "execute_task" and not task.is_started
    tree = task.pipeline_tree
    assert all(ID.match(n) for n in tree["activities"])
    assert tree["constants"]["${bk_timing}"]["value"] == "3" and "${not_defined}" not in tree["constants"]
    (src,) = tree["constants"]["${bk_timing}"]["source_info"]
    assert tree["activities"][src]["component"]["code"] == "sleep_timer"
    assert fake_engine.names() == ["validate_pipeline"]
    assert task.url.endswith(f"taskflow/execute/2/?instance_id={task.pk}")


def test_invalid_tree_is_refused_and_leaves_nothing(world, fake_engine):
    fake_engine.fail_validation = "node[id=x] has no outgoing flow"
    with pytest.raises(InvalidInput, match="no outgoing flow"):
        create_task(world)
    assert TaskInstance.objects.count() == 0


@pytest.mark.parametrize("kwargs", [
    {"name": ""}, {"name": "x" * 101}, {"flow_type": "weird"}, {"constants": ["not", "a dict"]},
    {"exclude_task_nodes_id": ["timer"]}, {"callback_url": "ftp://127.0.0.1/x"},
    {"callback_url": "http://169.254.169.254/latest"},
])
def test_refusals_leave_nothing(world, fake_engine, kwargs):
    with pytest.raises(InvalidInput):
        create_task(world, **kwargs)
    assert TaskInstance.objects.count() == 0


def test_request_id_is_idempotent_per_app_and_business(world, fake_engine):
    first = create_task(world, request_id="r-1")
    again = create_task(world, request_id="r-1", name="other name")
    assert again.pk == first.pk and TaskInstance.objects.count() == 1
    other_app = services.create_task(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                                     app_code="another_app", request_id="r-1")
    assert other_app.pk != first.pk


def test_common_template_and_subprocess_unfolding(world, fake_engine):
    from tests.support import task_trees as trees
    from tests.support.task_world import make_template

    b = trees.TreeBuilder()
    b.act({"id": "sub", "type": "SubProcess", "name": "child", "template_id": 40, "incoming": "", "outgoing": "",
           "constants": {"${bk_timing}": {"key": "${bk_timing}", "value": "${parent_t}", "show_type": "show"}}})
    b.chain("start", "sub", "end").const("parent_t", "7")
    world.templates[12] = make_template(12, "parent", b.build(), world.biz2)
    task = create_task(world, 12)
    (sub,) = task.pipeline_tree["activities"].values()
    assert sub["pipeline"]["id"] == sub["id"]
    assert sub["pipeline"]["constants"]["${bk_timing}"]["value"] == "${parent_t}"
    assert set(engine_api.node_names(task.pipeline_tree).values()) >= {"定时", "暂停", "child"}
    assert "${parent_t}" in task.pipeline_tree["constants"]


def test_subprocess_cycle_is_refused(world, fake_engine):
    from tests.support import task_trees as trees
    from tests.support.task_world import make_template

    b = trees.TreeBuilder()
    b.act({"id": "sub", "type": "SubProcess", "name": "me", "template_id": 13, "incoming": "", "outgoing": "",
           "constants": {}})
    b.chain("start", "sub", "end")
    world.templates[13] = make_template(13, "self", b.build(), world.biz2)
    with pytest.raises(InvalidInput, match="include itself"):
        create_task(world, 13)


def test_start_marks_and_runs_once(world, fake_engine):
    task = create_task(world)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    assert task.is_started and task.executor == "alice" and task.run_id and task.start_time
    (name, (tree,), kwargs) = fake_engine.calls[-1]
    assert name == "start_pipeline" and tree == task.pipeline_tree
    assert kwargs["meta"] == {"task_id": task.pk} and kwargs["time_zone"] == "Asia/Shanghai"
    with pytest.raises(InvalidOperation, match="task already started"):
        services.start_task(task=task, executor="alice", source="api")


@pytest.mark.parametrize("state, ends", [("FINISHED", True), ("FAILED", False), ("RUNNING", False)])
def test_an_end_the_first_step_reaches_is_recorded_by_the_start_itself(world, fake_engine, settings, state, ends):
    from tasks_app.models import TaskCallbackRecord

    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the callback_url below is loopback, which only an entry opens
    fake_engine.start_state = state
    task = create_task(world, callback_url="http://127.0.0.1:9/hook")
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    assert task.is_started and task.is_finished is ends and not task.is_revoked
    assert (task.finish_time is not None) is ends
    if ends:  # the engine's own finish time, not the clock's at the update
        assert task.finish_time == dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    # FINISHED is told to callback_url once; a FAILED stop is told node by node, by the engine's signal
    assert list(TaskCallbackRecord.objects.filter(task=task).values_list("state", flat=True)) == (
        ["FINISHED"] if ends else [])


@pytest.mark.parametrize("via", ["node_callback", "operate_node"])
@pytest.mark.parametrize("state", ["FINISHED", "FAILED", "RUNNING"])
def test_a_callback_hands_its_audit_row_to_the_engines_step(world, fake_engine, via, state):
    """The callback's audit row goes with the step's writes (callback_along), and the end a step
    reaches is the engine's to record, by the task's receivers, as for a worker's step: the
    service records none itself (test_tasks_cost.py follows a real one to the task)."""
    task = create_task(world)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    node_id = next(iter(task.pipeline_tree["activities"]))
    fake_engine.callback_state = state
    if via == "node_callback":
        services.node_callback(task=task, node_id=node_id, data={"a": 1}, username="alice", source="api", version="v7")
    else:
        services.operate_node(task=task, node_id=node_id, action="callback", data={"a": 1}, username="alice",
                              source="api")
    name, args, kwargs = fake_engine.calls[-1]
    assert (name, args) == ("callback_along", (task.run_id, node_id, {"a": 1}))
    assert kwargs == {"version": "v7" if via == "node_callback" else None}
    assert list(task.operations.order_by("id").values_list("operate_type", "operator", "node_id")) == [
        ("create", "alice", ""), ("start", "alice", ""), ("callback", "alice", node_id)]
    task.refresh_from_db()
    assert not task.is_finished and task.finish_time is None


def test_start_task_in_reads_the_task_of_its_business_only(world, fake_engine):
    task = create_task(world)
    with pytest.raises(NotFound, match=rf"task\[id={task.pk}\] of business\[bk_biz_id=1\] does not exist"):
        services.start_task_in(business=world.biz1, task_id=task.pk, executor="alice", source="api")
    with pytest.raises(NotFound, match=r"task\[id=999999\] of business"):
        services.start_task_in(business=task.business, task_id=999999, executor="alice", source="api")
    with pytest.raises(InvalidInput):
        services.start_task_in(business=task.business, task_id="x1", executor="alice", source="api")
    assert "start_pipeline" not in fake_engine.names()
    services.start_task_in(business=task.business, task_id=str(task.pk), executor="alice", source="api")
    task.refresh_from_db()
    assert task.is_started and task.executor == "alice"
    task.is_deleted = True
    task.save(update_fields=["is_deleted"])
    with pytest.raises(NotFound):
        services.start_task_in(business=task.business, task_id=task.pk, executor="alice", source="api")


def test_create_and_start_starts_the_new_row_without_reading_it_again(world, fake_engine):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    template = world.templates[10]
    with CaptureQueriesContext(connection) as queries:
        task = services.create_and_start_task(business=template.business, template=template, name="t",
                                              creator="alice", app_code="app_code", executor="bob", source="api")
    reads = [s for s in sql_of(queries) if s.startswith("SELECT") and 'FROM "tasks_app_taskinstance"' in s]
    assert reads == []
    # one savepoint, its own (this test runs inside a transaction): create_task takes none inside it
    assert sum(q["sql"].startswith("SAVEPOINT") for q in queries.captured_queries) == 1
    task.refresh_from_db()
    assert task.is_started and task.executor == "bob" and fake_engine.names().count("start_pipeline") == 1


def test_create_and_start_in_savepoint_needs_its_callers_transaction_and_takes_no_savepoint(world, fake_engine,
                                                                                           monkeypatch):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    template = world.templates[10]
    kwargs = dict(business=template.business, template=template, name="t", creator="alice", app_code="app_code",
                  executor="bob", source="periodic")
    with monkeypatch.context() as patch:
        patch.setattr(connection, "in_atomic_block", False)  # as a caller outside any transaction
        with pytest.raises(RuntimeError):
            services.create_and_start_in_savepoint(**kwargs)
    assert not TaskInstance.objects.exists()

    with CaptureQueriesContext(connection) as queries:
        task = services.create_and_start_in_savepoint(**kwargs)
    assert not any(q["sql"].startswith("SAVEPOINT") for q in queries.captured_queries)
    assert list(task.operations.order_by("id").values_list("operate_type", "operate_source")) == [
        ("create", "api"), ("start", "periodic")]

    def refuse(tree, **kw):
        raise InvalidOperation("engine says no")
    fake_engine.start_pipeline = refuse
    with pytest.raises(InvalidOperation), transaction.atomic():  # the caller's savepoint takes it all back
        services.create_and_start_in_savepoint(**kwargs)
    assert TaskInstance.objects.count() == 1 and TaskOperation.objects.count() == 2


def test_a_request_id_replay_logs_the_create_before_the_start(world, fake_engine):
    template = world.templates[10]
    first = services.create_task(business=template.business, template=template, name="t", creator="alice",
                                 app_code="app_code", request_id="order-9")
    again = services.create_and_start_task(business=template.business, template=template, name="t",
                                           creator="alice", app_code="app_code", request_id="order-9",
                                           executor="bob", source="api")
    assert again.pk == first.pk
    assert list(first.operations.order_by("id").values_list("operate_type", flat=True)) == ["create", "start"]


def test_create_and_start_with_a_request_id_starts_once(world, fake_engine):
    template = world.templates[10]

    def call():
        return services.create_and_start_task(business=template.business, template=template, name="t",
                                              creator="alice", app_code="app_code", request_id="order-1",
                                              executor="bob", source="api")

    first, again = call(), call()
    assert first.pk == again.pk and again.is_started
    assert fake_engine.names().count("start_pipeline") == 1  # the replay answers the started task
    TaskInstance.objects.filter(pk=first.pk).update(is_started=False, run_id="")  # a replay of an unstarted one
    assert call().pk == first.pk and fake_engine.names().count("start_pipeline") == 2


def test_functional_task_must_be_claimed_first(world, fake_engine):
    task = create_task(world, flow_type="common_func")
    with pytest.raises(InvalidOperation, match="task with current_flow:func_claim cannot be started"):
        services.start_task(task=task, executor="alice", source="api")
    services.claim_functionalization_task(task=task, username="bob", source="api", constants={"${bk_timing}": "9"},
                                          name="n2")
    task.refresh_from_db()
    assert task.name == "n2" and task.pipeline_tree["constants"]["${bk_timing}"]["value"] == "9"
    with pytest.raises(InvalidOperation, match="cannot be claimed"):
        services.claim_functionalization_task(task=task, username="bob", source="api")
    services.start_task(task=task, executor="alice", source="api")
    with pytest.raises(InvalidOperation, match="task is not functional"):
        services.claim_functionalization_task(task=create_task(world), username="bob", source="api")


def test_operate_requires_started_and_known_action(world, fake_engine):
    task = create_task(world)
    with pytest.raises(InvalidInput, match="task action is invalid"):
        services.operate_task(task=task, action="explode", username="alice", source="api")
    with pytest.raises(InvalidOperation, match="task not started"):
        services.operate_task(task=task, action="pause", username="alice", source="api")












def test_run_end_is_mirrored(world, fake_engine):
    task = create_task(world)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    services.record_run_end(run_id=task.run_id, state="FAILED", meta={"task_id": task.pk})
    task.refresh_from_db()
    assert not task.is_finished
    services.record_run_end(run_id=task.run_id, state="REVOKED", meta={"task_id": task.pk})
    task.refresh_from_db()
    assert task.is_finished and task.is_revoked and task.finish_time


@pytest.mark.parametrize("callback_url, statements", [("", 1), ("http://127.0.0.1:9/hook", None)])
def test_an_end_costs_one_update_unless_callback_url_must_hear_of_it(world, fake_engine, settings,
                                                                     callback_url, statements):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_app.models import TaskCallbackRecord

    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the callback_url is loopback, which only an entry opens
    task = create_task(world, callback_url=callback_url or None)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    with CaptureQueriesContext(connection) as failed:
        assert services.record_run_end(run_id=task.run_id, state="FAILED", meta={"task_id": task.pk}) is None
    assert failed.captured_queries == []  # a FAILED stop writes nothing on the task
    with CaptureQueriesContext(connection) as ended:
        told = services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})
    if statements is not None:
        assert len(ended.captured_queries) == statements and told is None
        assert sql_of(ended)[0].startswith("UPDATE")
    else:  # the end and its notification, together
        assert told is not None and told.pk == task.pk
    task.refresh_from_db()
    assert task.is_finished and not task.is_revoked
    assert TaskCallbackRecord.objects.filter(task=task, state="FINISHED").count() == (1 if callback_url else 0)
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})  # a repeat
    assert TaskCallbackRecord.objects.filter(task=task).count() == (1 if callback_url else 0)


def test_reconcile_records_ended_runs_once_and_queues_their_callback_once(
        world, fake_engine, django_capture_on_commit_callbacks, monkeypatch, settings):
    from tasks_app import callbacks
    from tasks_app.models import TaskCallbackRecord

    dispatched: list[int] = []
    monkeypatch.setattr(callbacks, "_dispatch", lambda record_id, dispatch: dispatched.append(record_id))
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the callback_url is loopback, which only an entry opens
    ended, running, unstarted = (create_task(world, name=n, callback_url="http://127.0.0.1:9/hook")
                                 for n in ("ended", "running", "unstarted"))
    for task in (ended, running):
        services.start_task(task=task, executor="alice", source="api")
        task.refresh_from_db()
    fake_engine.status_trees[ended.run_id] = ended_run(ended, "FINISHED")
    fake_engine.status_trees[running.run_id] = {**ended_run(running), "state": "RUNNING", "finish_time": None}

    with django_capture_on_commit_callbacks(execute=True):
        first = services.reconcile_run_ends()
    assert first == services.Reconciled(recorded=1, next_after_id=0)
    ended.refresh_from_db()
    assert ended.is_finished and not ended.is_revoked
    assert ended.finish_time == dt.datetime(2024, 1, 1, 0, 0, 5, tzinfo=dt.UTC)  # the run's own end
    (record,) = TaskCallbackRecord.objects.filter(task=ended)
    assert record.state == "FINISHED" and dispatched == [record.pk]
    assert not TaskInstance.objects.get(pk=running.pk).is_finished
    assert not TaskInstance.objects.get(pk=unstarted.pk).is_finished

    # A second pass (or one racing the late signal) finds nothing more to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile_run_ends() == services.Reconciled(recorded=0, next_after_id=0)
    services.record_run_end(run_id=ended.run_id, state="FINISHED", meta={"task_id": ended.pk})
    assert TaskCallbackRecord.objects.filter(task=ended).count() == 1 and len(dispatched) == 1


def test_reconcile_works_through_the_tasks_a_batch_at_a_time(world, fake_engine):
    tasks = [create_task(world, name=f"t{i}") for i in range(5)]
    for task in tasks:
        services.start_task(task=task, executor="alice", source="api")
        task.refresh_from_db()
        fake_engine.status_trees[task.run_id] = ended_run(task)
    first = services.reconcile_run_ends(limit=2)
    assert first == services.Reconciled(recorded=2, next_after_id=tasks[1].pk)
    assert services.reconcile_run_ends(after_id=first.next_after_id, limit=2).next_after_id == tasks[3].pk
    last = services.reconcile_run_ends(after_id=tasks[3].pk, limit=2)
    assert last == services.Reconciled(recorded=1, next_after_id=0)  # the round is over: start again
    assert TaskInstance.objects.filter(pk__in=[t.pk for t in tasks], is_finished=True).count() == 5
    # Engine batch reads only: one per pass, whatever the batch holds.
    assert fake_engine.names().count("get_run_summaries") == 3


@pytest.mark.django_db(transaction=True)
def test_create_task_outside_a_transaction_opens_none_on_postgresql_and_writes_task_and_audit_row(
        fake_engine, monkeypatch):
    from django.db import connection, transaction

    from tests.support.task_world import make_world

    world = make_world()
    opened = []
    real_enter = transaction.Atomic.__enter__
    monkeypatch.setattr(transaction.Atomic, "__enter__", lambda self: (opened.append(1), real_enter(self))[1])
    task = create_task(world, request_id="outside-1")
    assert bool(opened) is (connection.vendor != "postgresql"), "one statement needs no BEGIN and COMMIT"
    assert list(task.operations.values_list("operate_type", "operator")) == [("create", "alice")]
    again = create_task(world, request_id="outside-1", name="other")
    assert again.pk == task.pk and TaskInstance.objects.count() == 1
