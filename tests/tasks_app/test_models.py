"""A task's derived fields: the status bucket, the elapsed time, the task URL."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tasks_app.models import TaskInstance, TaskStatus
from tests.support.task_world import create_task

pytestmark = pytest.mark.django_db


def test_status_buckets(world, fake_engine):
    task = create_task(world)
    assert task.status == TaskStatus.CREATED
    task.is_started = True
    assert task.status == TaskStatus.EXECUTING
    task.is_finished = True
    assert task.status == TaskStatus.FINISHED


def test_elapsed_time_and_url(world, fake_engine, settings):
    task = create_task(world)
    assert task.elapsed_time == 0
    task.start_time = timezone.now() - dt.timedelta(seconds=30)
    assert 29 <= task.elapsed_time <= 31  # still running: up to now
    task.finish_time = task.start_time + dt.timedelta(seconds=12)
    assert task.elapsed_time == 12
    settings.SOPS_APP_HOST = "https://sops.example/"
    assert TaskInstance.objects.get(pk=task.pk).url == f"https://sops.example/taskflow/execute/2/?instance_id={task.pk}"
