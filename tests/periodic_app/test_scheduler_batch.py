"""A claimed batch of due periodic tasks fired with its writes sent together (PostgreSQL), and what
makes the scheduler fire a row, or the whole batch, the row-by-row way instead.

The outcomes asserted here are the same on every database; only the round trips differ.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from periodic_app import scheduler, services
from periodic_app.cron import parse_cron
from periodic_app.models import PeriodicTask, PeriodicTaskHistory
from tests.pipeline_engine.components_for_tests import inline_logger
from tests.support import task_trees as trees

pytestmark = pytest.mark.django_db

UTC = dt.UTC
START = dt.datetime(2025, 1, 1, tzinfo=UTC)


def at(minute: int, second: int = 1) -> dt.datetime:
    return dt.datetime(2025, 1, 1, 0, minute, second, tzinfo=UTC)


def inline_template(world: Any, code: str = "noop") -> Any:
    from templates_app.models import Template

    b = trees.TreeBuilder()
    ids = [f"n{i}" for i in range(3)]
    for node_id in ids:
        b.act(trees.activity(node_id, code))
    b.chain("start", *ids, "end")
    return Template.objects.create(business=world.business, name=f"inline {code}", creator="admin",
                                   pipeline_tree=b.build())


def periodic(world: Any, name: str, template: Any = None) -> PeriodicTask:
    """Due every minute from START, on an all-inline chain (its run ends within its firing)."""
    return services.create_periodic_task(business=world.business, template=template or inline_template(world),
                                         name=name, cron=parse_cron({}), creator="admin", enabled=True, now=START)


def fired_tasks(row: PeriodicTask) -> list[Any]:
    from tasks_app.models import TaskInstance

    return list(TaskInstance.objects.filter(periodic_task_id=row.pk).order_by("id"))


def assert_fired_once(row: PeriodicTask, scheduled: dt.datetime) -> None:
    """One task, created and started by the scheduler and finished, one history row naming it, and
    the row moved on by one minute with its count."""
    (task,) = fired_tasks(row)
    assert task.is_started and task.is_finished
    assert list(task.operations.order_by("id").values_list("operate_type", "operate_source")) == [
        ("create", "periodic"), ("start", "periodic")]
    (entry,) = PeriodicTaskHistory.objects.filter(periodic_task=row)
    assert (entry.scheduled_at, entry.task_id, entry.success, entry.skipped) == (scheduled, task.pk, True, False)
    row.refresh_from_db()
    assert row.next_run_at == scheduled + dt.timedelta(minutes=1)
    assert (row.total_run_count, row.last_task_id) == (1, task.pk)


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the batch's writes go together on PostgreSQL")
def test_a_batch_takes_the_same_round_trips_whatever_its_size(pt_world: Any) -> None:
    template = inline_template(pt_world)
    warm = periodic(pt_world, "warm-up", template)  # this process's first keys look up their sequence
    scheduler.tick(now=at(1))
    PeriodicTask.objects.filter(pk=warm.pk).update(enabled=False, next_run_at=None)
    small = [periodic(pt_world, f"small {i}", template) for i in range(2)]
    with CaptureQueriesContext(connection) as two:
        assert all(f.success for f in scheduler.tick(now=at(1)))
    for row in small:
        assert_fired_once(row, at(1, 0))
    PeriodicTask.objects.filter(pk__in=[r.pk for r in small]).update(enabled=False, next_run_at=None)
    large = [periodic(pt_world, f"large {i}", template) for i in range(6)]
    with CaptureQueriesContext(connection) as six:
        assert all(f.success for f in scheduler.tick(now=at(1)))
    # The check, the claim, the tasks' keys, all the writes, and the tick's savepoint and its
    # release: the row-by-row way took about seven more per row.
    assert len(six.captured_queries) == len(two.captured_queries) <= 6
    for row in large:
        assert_fired_once(row, at(1, 0))


def test_a_fire_time_handled_already_fires_the_batch_row_by_row_and_only_the_others(
        pt_world: Any, caplog: Any, django_capture_on_commit_callbacks: Any) -> None:
    template = inline_template(pt_world)
    first, handled, last = (periodic(pt_world, name, template) for name in ("first", "handled", "last"))
    PeriodicTaskHistory.objects.create(periodic_task=handled, scheduled_at=at(1, 0), fired_at=at(1, 0),
                                       success=True)
    with caplog.at_level(logging.INFO, logger="sops.periodic"), \
            django_capture_on_commit_callbacks(execute=True):
        firings = {f.periodic_task_id: f for f in scheduler.tick(now=at(1))}
    assert firings[first.pk].success and firings[last.pk].success
    assert not firings[handled.pk].success and firings[handled.pk].task_id is None
    assert firings[handled.pk].reason == "duplicate firing prevented: this fire time was already handled"
    assert_fired_once(first, at(1, 0))
    assert_fired_once(last, at(1, 0))
    assert fired_tasks(handled) == []  # nothing of the batch's first attempt remains
    assert PeriodicTaskHistory.objects.filter(periodic_task=handled).count() == 1
    if connection.vendor == "postgresql":
        assert "firing it row by row" in caplog.text
    # Each firing is logged once, as it came out: the batch's first attempt, rolled back, is not.
    for row, outcome in ((first, "fired"), (last, "fired"), (handled, "failed")):
        assert caplog.text.count(f"periodic task {row.pk} {outcome}:") == 1
        assert caplog.text.count(f"periodic task {row.pk} ") == 1


def test_a_row_whose_first_step_logs_is_fired_in_the_batch_with_its_lines(pt_world: Any) -> None:
    """The first step's log lines go with the batch's writes (PostgreSQL's upsert needs no read):
    a tick with a logging row costs the round trips of one without."""
    from pipeline_engine.runtime.models import NodeLog

    with inline_logger("periodic_batch_chatty") as code:
        chatty = periodic(pt_world, "chatty", inline_template(pt_world, code))
        quiet = [periodic(pt_world, f"quiet {i}", inline_template(pt_world)) for i in range(2)]
        with CaptureQueriesContext(connection) as queries:
            firings = scheduler.tick(now=at(1))
    assert len(firings) == 3 and all(f.success for f in firings)
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) <= 6  # as test_a_batch_takes_the_same_round_trips_whatever_its_size
    for row in [chatty, *quiet]:
        assert_fired_once(row, at(1, 0))
    (task,) = fired_tasks(chatty)
    assert NodeLog.objects.filter(run_id=task.run_id).count() == 3  # its three nodes' lines


def test_a_row_whose_schedule_cannot_be_computed_stops_and_the_others_fire(pt_world: Any) -> None:
    template = inline_template(pt_world)
    broken, good = periodic(pt_world, "broken", template), periodic(pt_world, "good", template)
    PeriodicTask.objects.filter(pk=broken.pk).update(minute="61")  # stored behind the API's check
    firings = {f.periodic_task_id: f for f in scheduler.tick(now=at(1))}
    assert not firings[broken.pk].success and firings[broken.pk].reason
    assert firings[broken.pk].scheduled_at == at(1, 0)
    broken.refresh_from_db()
    assert broken.next_run_at is None and fired_tasks(broken) == []
    assert_fired_once(good, at(1, 0))


def test_a_failed_firing_in_a_batch_is_recorded_with_its_reason_and_moves_on(pt_world: Any) -> None:
    template = inline_template(pt_world)
    broken, good = periodic(pt_world, "broken", template), periodic(pt_world, "good", template)
    tree = dict(broken.pipeline_tree)
    tree["flows"] = {**tree["flows"], "lineX": {"id": "lineX", "source": "nowhere", "target": "nothing",
                                                "is_default": False}}
    PeriodicTask.objects.filter(pk=broken.pk).update(pipeline_tree=tree)
    firings = {f.periodic_task_id: f for f in scheduler.tick(now=at(1))}
    assert not firings[broken.pk].success and firings[broken.pk].reason
    (entry,) = PeriodicTaskHistory.objects.filter(periodic_task=broken)
    assert (entry.success, entry.skipped, entry.task_id, entry.reason) == (False, False, None,
                                                                         firings[broken.pk].reason)
    broken.refresh_from_db()
    assert broken.next_run_at == at(2, 0) and broken.total_run_count == 0 and fired_tasks(broken) == []
    assert_fired_once(good, at(1, 0))


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's counts of rows read")
def test_a_claim_in_a_burst_reads_its_batch_not_every_due_row(pt_world: Any) -> None:
    from django.db import transaction

    from tests.support.sql import rows_read

    proto = periodic(pt_world, "burst")
    fields = {f.attname: getattr(proto, f.attname) for f in PeriodicTask._meta.concrete_fields if not f.primary_key}
    PeriodicTask.objects.bulk_create([PeriodicTask(**{**fields, "name": f"burst {i}"}) for i in range(1500)])
    table = PeriodicTask._meta.db_table
    with transaction.atomic():
        before = rows_read(table)
        claimed = scheduler._due(at(1), 20)
        read = rows_read(table) - before
    assert [row.pk for row in claimed] == sorted(row.pk for row in claimed) and len(claimed) == 20
    assert claimed[0].pk == proto.pk  # the longest due first, then by id
    assert read < 100, f"the claim read {read} rows of {table} for a batch of 20"
