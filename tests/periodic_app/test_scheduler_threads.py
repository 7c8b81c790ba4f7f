"""A burst of due periodic tasks fired by several threads of one scheduler (PostgreSQL's SKIP LOCKED).

These tests commit (transaction=True): each firing thread has its own connection, which must see
the rows, and the scheduler never starts threads inside a caller's transaction.
"""
from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection  # noqa: F401 - the skipif condition reads it

from periodic_app import scheduler, services
from periodic_app.cron import parse_cron
from periodic_app.models import PeriodicTask, PeriodicTaskHistory
from tests.support import task_trees as trees

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="threads claim with SKIP LOCKED (PostgreSQL)"),
]
UTC = dt.UTC
START = dt.datetime(2025, 1, 1, tzinfo=UTC)
DUE = dt.datetime(2025, 1, 1, 0, 1, tzinfo=UTC)


def burst(world: Any, count: int) -> list[int]:
    """`count` periodic tasks of an all-inline chain (no worker needed), all due at DUE."""
    from templates_app.models import Template

    b = trees.TreeBuilder()
    ids = [f"n{i}" for i in range(3)]
    for node_id in ids:
        b.act(trees.activity(node_id, "noop"))
    b.chain("start", *ids, "end")
    template = Template.objects.create(business=world.business, name="inline", creator="admin",
                                       pipeline_tree=b.build())
    proto = services.create_periodic_task(business=world.business, template=template, name="p",
                                          cron=parse_cron({}), creator="admin", enabled=True, now=START)
    fields = {f.attname: getattr(proto, f.attname) for f in PeriodicTask._meta.concrete_fields if not f.primary_key}
    PeriodicTask.objects.bulk_create([PeriodicTask(**{**fields, "name": f"p{i}"}) for i in range(count - 1)])
    return list(PeriodicTask.objects.filter(next_run_at=DUE).values_list("pk", flat=True))


def drains_by_thread(monkeypatch) -> list[str]:
    names: list[str] = []
    real = scheduler._drain

    def spy(now, batch_size):
        names.append(threading.current_thread().name)
        return real(now, batch_size)

    monkeypatch.setattr(scheduler, "_drain", spy)
    return names


def test_a_burst_is_fired_by_several_threads_each_row_exactly_once(pt_world: Any, monkeypatch) -> None:
    made = burst(pt_world, 60)
    names = drains_by_thread(monkeypatch)
    firings = scheduler.tick(now=DUE + dt.timedelta(seconds=1), batch_size=5, threads=3)
    assert sorted(names) == ["MainThread", "periodic-firing-1", "periodic-firing-2"]
    assert sorted(f.periodic_task_id for f in firings) == sorted(made) and all(f.success for f in firings)
    history = list(PeriodicTaskHistory.objects.values_list("periodic_task_id", flat=True))
    assert sorted(history) == sorted(made)  # one entry per row, none twice
    assert set(PeriodicTask.objects.values_list("total_run_count", flat=True)) == {1}
    assert scheduler.tick(now=DUE + dt.timedelta(seconds=2), batch_size=5, threads=3) == []


def test_no_thread_for_a_tick_that_is_not_a_burst_nor_inside_a_transaction(pt_world: Any, monkeypatch) -> None:
    from django.db import transaction

    burst(pt_world, 4)
    names = drains_by_thread(monkeypatch)
    assert len(scheduler.tick(now=DUE + dt.timedelta(seconds=1), batch_size=5, threads=3)) == 4
    assert names == []  # the first claim came back short: nothing more to share out

    PeriodicTask.objects.update(next_run_at=DUE)
    with transaction.atomic():  # a caller's transaction: other connections could not see its rows
        assert len(scheduler.tick(now=DUE + dt.timedelta(seconds=1), batch_size=2, threads=3)) == 4
    assert names == ["MainThread"]


def test_a_failing_thread_loses_no_row_and_fires_none_twice(pt_world: Any, monkeypatch, caplog) -> None:
    made = burst(pt_world, 30)
    real = scheduler._due

    def due(now, batch_size):
        if threading.current_thread().name != "MainThread":
            raise RuntimeError("the firing thread's database went away")
        return real(now, batch_size)

    monkeypatch.setattr(scheduler, "_due", due)
    first = scheduler.tick(now=DUE + dt.timedelta(seconds=1), batch_size=5, threads=2)
    assert "a periodic firing thread failed" in caplog.text
    monkeypatch.setattr(scheduler, "_due", real)
    rest = scheduler.tick(now=DUE + dt.timedelta(seconds=2), batch_size=5, threads=2)
    fired = [f.periodic_task_id for f in first + rest]
    assert sorted(fired) == sorted(made)  # every row once, across the two ticks
    assert PeriodicTaskHistory.objects.count() == 30
