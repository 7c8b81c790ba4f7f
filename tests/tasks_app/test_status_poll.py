"""A status poll by task id (selectors.task_status_by_id): one query for a started task, and the
same answers as reading the task first for every other case; the real engine."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline_engine.errors import RunNotFound
from sops_common.errors import InvalidInput, NotFound
from tasks_app import selectors, services
from tasks_app.models import TaskInstance
from tests.support import task_trees as trees
from tests.support.task_world import make_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(world):
    b = trees.TreeBuilder()
    for node_id in ("a", "b", "c"):
        b.act(trees.activity(node_id, "noop"))
    b.chain("start", "a", "b", "c", "end")
    return make_template(60, "three no-ops", b.build(), world.biz2)


def _new(world, chain, name: str = "poll me") -> TaskInstance:
    return services.create_task(business=world.biz2, template=chain, name=name, creator="alice", app_code="app_code")


def _read_first(business, task_id):
    return selectors.task_status(selectors.get_task(business, task_id, with_tree=False))


def test_a_started_tasks_status_is_one_query_and_the_same_answer(world, chain):
    task = _new(world, chain)
    services.start_task(task=task, executor="alice", source="api")
    with CaptureQueriesContext(connection) as queries:
        polled = selectors.task_status_by_id(world.biz2, str(task.pk))
    assert len(queries.captured_queries) == 1
    assert polled == _read_first(world.biz2, task.pk)
    assert polled["name"] == "poll me" and polled["state"] == "FINISHED" and len(polled["children"]) == 5
    assert polled["start_time"].endswith("+0800")  # the business's time zone


def test_the_name_is_the_tasks_own_as_it_is_now(world, chain):
    task = _new(world, chain)
    services.start_task(task=task, executor="alice", source="api")
    TaskInstance.objects.filter(pk=task.pk).update(name="renamed")
    assert selectors.task_status_by_id(world.biz2, task.pk)["name"] == "renamed"


def test_a_task_not_started_answers_created(world, chain):
    task = _new(world, chain)
    assert selectors.task_status_by_id(world.biz2, task.pk) == selectors.CREATED_STATUS


@pytest.mark.parametrize("case", ["other business", "deleted", "unknown"])
def test_a_task_out_of_reach_is_not_found_as_when_read_first(world, chain, case):
    task = _new(world, chain)
    services.start_task(task=task, executor="alice", source="api")
    business, task_id = world.biz2, task.pk
    if case == "other business":
        business = world.biz1
    elif case == "deleted":
        TaskInstance.objects.filter(pk=task.pk).update(is_deleted=True)
    else:
        task_id = task.pk + 1000
    with pytest.raises(NotFound) as polled:
        selectors.task_status_by_id(business, task_id)
    with pytest.raises(NotFound) as read_first:
        _read_first(business, task_id)
    assert str(polled.value) == str(read_first.value)


def test_a_bad_id_is_refused(world):
    with pytest.raises(InvalidInput):
        selectors.task_status_by_id(world.biz2, "12a")


def test_a_run_the_engine_does_not_have_is_its_error(world, chain):
    task = _new(world, chain)
    TaskInstance.objects.filter(pk=task.pk).update(is_started=True, run_id="gone" * 8)
    with pytest.raises(RunNotFound):
        selectors.task_status_by_id(world.biz2, task.pk)
