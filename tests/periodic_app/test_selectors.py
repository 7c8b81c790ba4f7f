"""Reads on periodic tasks: business scope, the spec's list shape, the form, the firing history."""
from __future__ import annotations

import datetime as dt

import pytest

from access_app.models import Business
from periodic_app import selectors, services
from periodic_app.cron import parse_cron
from periodic_app.models import PeriodicTaskHistory
from sops_common.errors import NotFound

pytestmark = pytest.mark.django_db


def make(world, name="nightly"):
    return services.create_periodic_task(business=world.business, template=world.quick_template, name=name,
                                         cron=parse_cron({"minute": "0"}), creator="admin")


def test_another_business_task_is_as_absent_as_a_missing_one(pt_world):
    task = make(pt_world)
    other = Business.objects.create(bk_biz_id=99, name="other")
    assert selectors.get_periodic_task(pt_world.business, str(task.pk)) == task
    for business, task_id in ((other, task.pk), (pt_world.business, 10**9), (pt_world.business, "x")):
        with pytest.raises(NotFound, match=r"task\(.*\) does not exist"):
            selectors.get_periodic_task(business, task_id)


def test_list_and_info_shapes(pt_world):
    task = make(pt_world)
    (item,) = selectors.list_periodic_tasks(pt_world.business)
    assert list(item) == ["cron", "total_run_count", "name", "creator", "last_run_at", "enabled", "id",
                          "template_id"]
    assert item["template_id"] == str(task.template_id) and item["last_run_at"] == ""
    info = selectors.periodic_task_info(task, pt_world.business)
    assert info["form"] == {k: v for k, v in task.constants.items() if v.get("show_type") == "show"}


def test_history_is_newest_first_and_paged(pt_world):
    task = make(pt_world)
    for minute in range(3):
        at = dt.datetime(2025, 1, 1, 0, minute, tzinfo=dt.UTC)
        PeriodicTaskHistory.objects.create(periodic_task=task, scheduled_at=at, fired_at=at, success=True)
    page = selectors.list_history(task, pt_world.business, offset=1, limit=1)
    assert page["count"] == 3 and len(page["results"]) == 1
    assert page["results"][0]["scheduled_time"].startswith("2025-01-01 09:01:00")  # Asia/Tokyo
