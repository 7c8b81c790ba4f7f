"""End to end with a real Celery worker: a firing's task runs to the end, and `skip` then lets the next one go."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from periodic_app import scheduler, services
from periodic_app.cron import parse_cron
from periodic_app.models import OverlapPolicy, PeriodicTaskHistory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_fired_task_runs_to_the_end(pt_world: Any, celery_worker_proc: Any, wait_for: Any) -> None:
    from tasks_app.models import TaskInstance

    start = dt.datetime.now(dt.UTC)
    periodic = services.create_periodic_task(
        business=pt_world.business, template=pt_world.quick_template, name="e2e", creator="admin",
        cron=parse_cron({}), enabled=True, overlap_policy=OverlapPolicy.SKIP, now=start)
    due = periodic.next_run_at
    (firing,) = scheduler.tick(now=due + dt.timedelta(seconds=1))
    assert firing.success
    task = TaskInstance.objects.get(pk=firing.task_id)
    assert task.is_started and task.periodic_task_id == periodic.pk
    wait_for(lambda: TaskInstance.objects.get(pk=task.pk).is_finished, timeout=60,
             message="the periodic task's run to finish")
    # The previous run has finished, so `skip` fires the next minute.
    (second,) = scheduler.tick(now=due + dt.timedelta(minutes=1, seconds=1))
    assert second.success and not second.skipped
    assert PeriodicTaskHistory.objects.filter(periodic_task=periodic, success=True).count() == 2
