"""Querysets compiled once (sops_common/prepared.py)."""
from __future__ import annotations

import pytest

from access_app.models import Business
from sops_common import prepared


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


def test_compiled_rows_refuse_what_is_not_a_plain_values_list():
    from django.db.models import F

    with pytest.raises(ValueError, match="values_list of plain fields"):
        prepared.compiled_rows("test:not-values", lambda pk: Business.objects.filter(pk=pk), pk=1)
    with pytest.raises(ValueError, match="values_list of plain fields"):
        prepared.compiled_rows("test:annotated", lambda pk: Business.objects.filter(pk=pk).annotate(
            twice=F("bk_biz_id") * 2).values_list("twice"), pk=1)


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
