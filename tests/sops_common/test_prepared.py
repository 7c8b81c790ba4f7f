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
