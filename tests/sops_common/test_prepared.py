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
