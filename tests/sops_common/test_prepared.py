"""Querysets compiled once (sops_common/prepared.py)."""
from __future__ import annotations

import pytest

from access_app.models import Business
from pipeline_engine.runtime import prepared as engine_prepared
from sops_common import prepared
from tests.support.sql import statements as sql_of


def _by_id(pk: int, name: str):
    return Business.objects.filter(pk=pk, name=name, bk_biz_id__gt=0)


@pytest.mark.django_db
def test_the_sql_is_built_once_and_each_call_puts_its_own_values(monkeypatch):
    a = Business.objects.create(bk_biz_id=71, name="a")
    b = Business.objects.create(bk_biz_id=72, name="b")
    built: list[tuple] = []

    def build(pk: int, name: str):
        built.append((pk, name))
        return _by_id(pk, name)

    sql, params = prepared.compiled("test:by_id", build, pk=a.pk, name="a")
    assert [x.pk for x in Business.objects.raw(sql, params)] == [a.pk]
    sql2, params2 = prepared.compiled("test:by_id", build, pk=b.pk, name="b")
    assert sql2 == sql and len(built) == 1  # compiled on the first call only
    assert [x.pk for x in Business.objects.raw(sql2, params2)] == [b.pk]
    sql3, params3 = prepared.compiled("test:by_id", build, pk=b.pk, name="a")
    assert list(Business.objects.raw(sql3, params3)) == []  # both values are the caller's


def test_a_parameter_the_query_does_not_use_as_a_value_is_refused():
    with pytest.raises(ValueError, match="every parameter"):
        prepared.compiled("test:unused", lambda pk, other: Business.objects.filter(pk=pk), pk=1, other=2)
    with pytest.raises(TypeError):
        prepared.compiled("test:bool", lambda flag: Business.objects.filter(pk=flag), flag=True)


@pytest.mark.django_db
def test_compiled_rows_are_the_rows_django_gives_with_each_calls_values():
    a = Business.objects.create(bk_biz_id=81, name="a", time_zone="UTC")
    b = Business.objects.create(bk_biz_id=82, name="b", time_zone="Asia/Shanghai")
    built: list[int] = []

    def build(pk: int):
        built.append(pk)
        return Business.objects.filter(pk=pk).values_list("bk_biz_id", "name", "time_zone", "created_at")

    for row in (a, b):
        expected = list(build(row.pk))
        assert prepared.compiled_rows("test:rows", build, pk=row.pk) == expected
    # datetimes come back as Django gives them (aware, converted), on SQLite too
    assert prepared.compiled_rows("test:rows", build, pk=a.pk)[0][3] == a.created_at
    assert len(built) == 3  # the two `expected` reads and one compile
    assert prepared.compiled_rows("test:rows", build, pk=999999) == []


def test_compiled_rows_refuse_what_is_not_a_values_list_of_fields_then_expressions():
    from django.db.models import F

    with pytest.raises(ValueError, match="values_list of fields, then expressions"):
        prepared.compiled_rows("test:not-values", lambda pk: Business.objects.filter(pk=pk), pk=1)
    # Django would reorder these columns for values_list; the compiled rows are the statement's own
    with pytest.raises(ValueError, match="values_list of fields, then expressions"):
        prepared.compiled_rows("test:expression-first", lambda pk: Business.objects.filter(pk=pk).values_list(
            F("bk_biz_id") * 2, "name"), pk=1)


@pytest.mark.django_db
def test_compiled_rows_take_expressions_after_the_fields_and_a_parameter_used_twice():
    from django.db.models import F, OuterRef, Subquery

    a = Business.objects.create(bk_biz_id=91, name="a")
    b = Business.objects.create(bk_biz_id=92, name="b")

    def build(pk: int):
        other = Business.objects.filter(pk=pk).values("name")[:1]  # the same parameter, a second time
        return Business.objects.filter(pk=pk).values_list(
            "name", F("bk_biz_id") * 2, Subquery(other), Subquery(
                Business.objects.filter(pk=OuterRef("pk")).values("bk_biz_id")[:1]))

    for row in (a, b):
        expected = list(build(row.pk))
        assert expected == [(row.name, row.bk_biz_id * 2, row.name, row.bk_biz_id)]
        assert prepared.compiled_rows("test:expressions", build, pk=row.pk) == expected


@pytest.mark.django_db
def test_compiled_first_builds_the_instance_django_builds_with_each_calls_values(world, django_assert_num_queries):
    from tasks_app.models import TaskInstance

    tree = {"a": ["ü", 1, None, {"b": True}]}
    ids = []
    for name in ("one", "two"):
        task = TaskInstance(business=world.biz2, template=world.templates[10], name=name, creator="alice",
                            category="OpsTools", pipeline_tree=tree, callback_url="", create_info="app")
        prepared.insert_row(task)
        ids.append(task.pk)
    built: list[int] = []

    def build(pk: int, business_id: int):
        built.append(pk)
        return TaskInstance.objects.filter(pk=pk, business_id=business_id, is_deleted=False).defer("pipeline_tree")[:1]

    for pk in ids:
        expected = build(pk, world.biz2.pk).get()
        with django_assert_num_queries(1):
            got = prepared.compiled_first("test:first", build, pk=pk, business_id=world.biz2.pk)
        assert type(got) is TaskInstance and not got._state.adding and got._state.db == "default"
        assert {f.attname: getattr(got, f.attname) for f in TaskInstance._meta.concrete_fields
                if f.name != "pipeline_tree"} == {f.attname: getattr(expected, f.attname)
                                                  for f in TaskInstance._meta.concrete_fields if f.name != "pipeline_tree"}
        assert got.create_time == expected.create_time and got.create_time.tzinfo is not None
        assert got.get_deferred_fields() == {"pipeline_tree"}
        with django_assert_num_queries(1):
            assert got.pipeline_tree == tree  # the deferred field loads on access, decoded
    assert len(built) == 3  # the two `expected` reads and one compile
    assert prepared.compiled_first("test:first", build, pk=ids[0], business_id=world.biz2.pk + 1000) is None
    full = prepared.compiled_first("test:first-full", lambda pk: TaskInstance.objects.filter(pk=pk), pk=ids[1])
    assert full is not None and full.get_deferred_fields() == set() and full.pipeline_tree == tree
    assert full.name == "two"


def test_compiled_first_refuses_what_does_not_give_plain_instances():
    from django.db.models import F

    from tasks_app.models import TaskInstance

    for name, build in [
        ("values", lambda pk: Business.objects.filter(pk=pk).values_list("name")),
        ("dicts", lambda pk: Business.objects.filter(pk=pk).values("name")),
        ("annotated", lambda pk: Business.objects.filter(pk=pk).annotate(twice=F("bk_biz_id") * 2)),
        ("related", lambda pk: TaskInstance.objects.filter(pk=pk).select_related("business")),
    ]:
        with pytest.raises(ValueError, match="plain filters"):
            prepared.compiled_first(f"test:{name}", build, pk=1)


def _row(model, pk) -> dict:
    return model.objects.filter(pk=pk).values().get()


@pytest.mark.django_db
def test_insert_row_writes_what_save_writes_and_sets_the_key(world):
    from django.db.models import F

    from tasks_app.models import OperateType, TaskInstance, TaskOperation

    template = world.templates[10]
    fields = dict(business=world.biz2, template=template, name="t", creator="alice", category="OpsTools",
                  pipeline_tree={"a": ["ü", 1, None, {"b": True}]}, callback_url="", create_info="app",
                  request_id=None, periodic_task_id=None)
    saved = TaskInstance(**fields)
    saved.save(force_insert=True)
    inserted = TaskInstance(**fields)
    prepared.insert_row(inserted)
    assert inserted.pk and inserted.pk != saved.pk and not inserted._state.adding
    a, b = _row(TaskInstance, saved.pk), _row(TaskInstance, inserted.pk)
    assert b["create_time"] is not None and b["create_time"] >= a["create_time"]  # auto_now_add applied
    for row in (a, b):
        row.pop("id"), row.pop("create_time")
    assert a == b

    op = TaskOperation(task_id=inserted.pk, operate_type=OperateType.START, operator="bob", operate_source="api",
                       extra_info={"k": "v"})
    prepared.insert_row(op)  # a second model: a statement of its own
    assert _row(TaskOperation, op.pk)["extra_info"] == {"k": "v"} and op.operate_date is not None
    assert _row(TaskOperation, op.pk)["operate_type"] == "start"

    with pytest.raises(TypeError, match="expression"):
        prepared.insert_row(TaskOperation(task_id=F("id"), operate_type="x", operator="", operate_source="api"))


@pytest.mark.django_db
def test_insert_rows_writes_a_batch_in_one_statement_in_order_and_sets_every_key(world, django_assert_num_queries):
    from tasks_app.models import OperateType, TaskOperation

    task_id = _any_task(world)
    ops = [TaskOperation(task_id=task_id, operate_type=kind, operator=who, operate_source="api", extra_info={"i": i})
           for i, (kind, who) in enumerate([(OperateType.CREATE, "ann"), (OperateType.START, "bob"),
                                            (OperateType.PAUSE, "cat")])]
    with django_assert_num_queries(1):
        prepared.insert_rows(ops)
    assert all(op.pk and not op._state.adding for op in ops)
    assert [op.pk for op in ops] == sorted(op.pk for op in ops)  # in the order given
    for i, op in enumerate(ops):
        row = _row(TaskOperation, op.pk)
        assert (row["operate_type"], row["operator"], row["extra_info"]) == (op.operate_type, op.operator, {"i": i})
        assert row["operate_date"] is not None  # auto_now_add applied to each
    with django_assert_num_queries(0):
        prepared.insert_rows([])
    with pytest.raises(TypeError, match="one model"):
        prepared.insert_rows([TaskOperation(task_id=task_id, operate_type="x", operator="", operate_source="api"),
                              Business(bk_biz_id=77, name="b")])
    many = [TaskOperation(task_id=task_id, operate_type=OperateType.RESUME, operator=str(i), operate_source="api")
            for i in range(engine_prepared.MAX_PREPARED_BATCH + 1)]
    prepared.insert_rows(many)  # past the prepared sizes: bulk_create, same rows
    assert TaskOperation.objects.filter(task_id=task_id, operate_type=OperateType.RESUME).count() == len(many)


def _any_task(world):
    from tasks_app.models import TaskInstance

    task = TaskInstance(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                        category="OpsTools", pipeline_tree={}, callback_url="", create_info="app")
    prepared.insert_row(task)
    return task.pk


@pytest.mark.django_db
def test_update_rows_changes_what_queryset_update_changes_and_counts_the_rows(world, django_assert_num_queries):
    from django.db.models import F
    from django.utils import timezone

    from tasks_app.models import TaskInstance

    a, b = _any_task(world), _any_task(world)
    now = timezone.now()
    with django_assert_num_queries(1):
        changed = prepared.update_rows(TaskInstance, {"pk": a}, {"is_started": True, "start_time": now,
                                                                 "executor": "ann", "run_id": "r-a"})
    assert changed == 1
    row, other = _row(TaskInstance, a), _row(TaskInstance, b)
    assert (row["is_started"], row["start_time"], row["executor"], row["run_id"]) == (True, now, "ann", "r-a")
    assert (other["is_started"], other["executor"]) == (False, "")  # only the row matched
    # Every condition must hold: a finished task is not ended twice.
    ended = {"is_finished": True, "finish_time": now}
    assert prepared.update_rows(TaskInstance, {"pk": a, "is_finished": False, "callback_url": ""}, ended) == 1
    assert prepared.update_rows(TaskInstance, {"pk": a, "is_finished": False, "callback_url": ""}, ended) == 0
    assert prepared.update_rows(TaskInstance, {"pk": b, "is_finished": False, "callback_url": "x"}, ended) == 0
    assert _row(TaskInstance, b)["is_finished"] is False
    assert prepared.update_rows(TaskInstance, {"pk": str(b)}, {"name": "renamed"}) == 1  # the lookup's conversion
    assert _row(TaskInstance, b)["name"] == "renamed"
    for where, values, error in [({"pk": a}, {"name": F("creator")}, TypeError), ({"pk": None}, {"name": "x"}, TypeError),
                                 ({"pk": a}, {}, ValueError), ({}, {"name": "x"}, ValueError)]:
        with pytest.raises(error):
            prepared.update_rows(TaskInstance, where, values)


@pytest.mark.django_db
def test_writes_send_updates_and_an_insert_together_in_order_and_set_the_keys(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_app.models import OperateType, TaskInstance, TaskOperation

    a, b = _any_task(world), _any_task(world)
    ops = [TaskOperation(task_id=a, operate_type=kind, operator="ann", operate_source="api")
           for kind in (OperateType.CREATE, OperateType.START)]
    writes = prepared.writes()
    writes.update_rows(TaskInstance, {"pk": a}, {"executor": "ann"})
    writes.update_rows(TaskInstance, {"pk": b}, {"executor": "bob"})
    writes.insert_rows(ops)
    with CaptureQueriesContext(connection) as queries:
        assert _row(TaskInstance, a)["executor"] == ""  # nothing is written before send
        writes.send()
    statements = sql_of(queries)[1:]
    if connection.vendor == "postgresql":
        # One round trip: both UPDATEs, then the INSERT whose keys are read back.
        assert len(statements) == 1 and statements[0].count("UPDATE") == 2 and "INSERT" in statements[0]
    else:
        assert [s.split()[0] for s in statements] == ["UPDATE", "UPDATE", "INSERT"]
    assert (_row(TaskInstance, a)["executor"], _row(TaskInstance, b)["executor"]) == ("ann", "bob")
    assert all(op.pk and not op._state.adding for op in ops) and ops[0].pk < ops[1].pk
    assert [_row(TaskOperation, op.pk)["operate_type"] for op in ops] == [OperateType.CREATE, OperateType.START]
    with CaptureQueriesContext(connection) as queries:
        writes.send()  # sent already: nothing is sent twice
        prepared.writes().send()
    assert len(queries) == 0


@pytest.mark.django_db
def test_writes_read_each_inserts_keys_and_send_what_was_queued_before_a_bulk_insert(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_app.models import OperateType, TaskInstance, TaskOperation

    a = _any_task(world)
    first = [TaskOperation(task_id=a, operate_type=OperateType.PAUSE, operator="x", operate_source="api")]
    second = [TaskOperation(task_id=a, operate_type=OperateType.RESUME, operator="y", operate_source="api")]
    writes = prepared.writes()
    writes.insert_rows(first)
    writes.update_rows(TaskInstance, {"pk": a}, {"name": "two"})
    writes.insert_rows(second)
    writes.send()
    # An INSERT whose keys are read ends its group: each one's keys are its own rows'.
    assert first[0].pk and second[0].pk and first[0].pk != second[0].pk
    assert (_row(TaskOperation, first[0].pk)["operator"], _row(TaskOperation, second[0].pk)["operator"]) == ("x", "y")
    assert _row(TaskInstance, a)["name"] == "two"

    many = [TaskOperation(task_id=a, operate_type=OperateType.REVOKE, operator=str(i), operate_source="api")
            for i in range(engine_prepared.MAX_PREPARED_BATCH + 1)]
    writes.update_rows(TaskInstance, {"pk": a}, {"name": "three"})
    with CaptureQueriesContext(connection) as queries:
        writes.insert_rows(many)  # past the prepared sizes: bulk_create at once, the UPDATE first
    kinds = [s.split()[0] for s in sql_of(queries) if s.split()[0] in ("UPDATE", "INSERT")]
    assert kinds[0] == "UPDATE" and "INSERT" in kinds[1:]
    assert _row(TaskInstance, a)["name"] == "three"
    assert TaskOperation.objects.filter(task_id=a, operate_type=OperateType.REVOKE).count() == len(many)
    with pytest.raises(TypeError, match="expression"):
        from django.db.models import F

        prepared.writes().update_rows(TaskInstance, {"pk": a}, {"name": F("creator")})


def _task_fields(world) -> dict:
    return dict(business=world.biz2, template=world.templates[10], name="t", creator="alice", category="OpsTools",
                pipeline_tree={"a": ["ü", 2**40, None]}, callback_url="", create_info="app", request_id=None,
                periodic_task_id=None)


@pytest.mark.django_db
def test_insert_with_children_writes_what_insert_row_and_insert_rows_write(world, django_assert_num_queries):
    from django.db import connection

    from tasks_app.models import TaskInstance, TaskOperation

    def operations():
        return [TaskOperation(operate_type="create", operator="bob", operate_source="api", extra_info={"k": i})
                for i in range(2)]

    one_by_one, ops_one_by_one = TaskInstance(**_task_fields(world)), operations()
    prepared.insert_row(one_by_one)
    for op in ops_one_by_one:
        op.task_id = one_by_one.pk
    prepared.insert_rows(ops_one_by_one)

    together, ops_together = TaskInstance(**_task_fields(world)), operations()
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        prepared.insert_with_children(together, ops_together, "task")
    assert together.pk and together.pk != one_by_one.pk and not together._state.adding
    assert [op.task_id for op in ops_together] == [together.pk, together.pk]

    def rows(task_pk):
        task = TaskInstance.objects.filter(pk=task_pk).values().get()
        ops = list(TaskOperation.objects.filter(task_id=task_pk).order_by("pk").values())
        for row in (task, *ops):
            row.pop("id"), row.pop("create_time", None), row.pop("operate_date", None), row.pop("task_id", None)
        return task, ops

    assert rows(together.pk) == rows(one_by_one.pk)
    assert [op["extra_info"] for op in rows(together.pk)[1]] == [{"k": 0}, {"k": 1}]  # in the order given


@pytest.mark.django_db
def test_insert_with_children_refuses_what_is_not_a_family(world):
    from tasks_app.models import TaskInstance, TaskOperation
    from templates_app.models import Template

    with pytest.raises(ValueError, match="not a foreign key"):
        prepared.insert_with_children(TaskInstance(**_task_fields(world)),
                                      [TaskOperation(operate_type="create", operator="", operate_source="api")],
                                      "operator")
    business = world.biz2
    with pytest.raises(TypeError, match="one model"):
        prepared.insert_with_children(
            TaskInstance(**_task_fields(world)),
            [TaskOperation(operate_type="create", operator="", operate_source="api"),
             Template(business=business, name="x", pipeline_tree={})], "task")
    assert not TaskInstance.objects.filter(name="t").exists()


@pytest.mark.django_db(transaction=True)
def test_a_child_that_cannot_be_written_leaves_no_parent_outside_any_transaction():
    from django.db import IntegrityError, transaction

    from tasks_app.models import TaskInstance, TaskOperation
    from tests.support.task_world import make_world

    world = make_world()
    assert not transaction.get_connection().in_atomic_block
    bad = TaskOperation(operate_type=None, operator="bob", operate_source="api")  # NOT NULL
    with pytest.raises(IntegrityError):
        prepared.insert_with_children(TaskInstance(**_task_fields(world)), [bad], "task")
    assert TaskInstance.objects.count() == 0 and TaskOperation.objects.count() == 0
    good = TaskInstance(**_task_fields(world))
    prepared.insert_with_children(good, [TaskOperation(operate_type="create", operator="b", operate_source="api")],
                                  "task")
    assert TaskOperation.objects.get().task_id == good.pk == TaskInstance.objects.get().pk
