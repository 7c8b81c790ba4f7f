"""The admin pages of periodic tasks and their history."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from periodic_app import services
from periodic_app.cron import parse_cron
from periodic_app.models import PeriodicTask, PeriodicTaskHistory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any, pt_world: Any) -> Any:
    """A superuser's session (pt_world already has a user called admin)."""
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser(username="root", password="x"))
    return client


def test_changelists_filters_and_actions(admin_client: Any, pt_world: Any) -> None:
    task = services.create_periodic_task(business=pt_world.business, template=pt_world.quick_template,
                                         name="admin me", cron=parse_cron({"minute": "*/5"}), creator="admin")
    PeriodicTaskHistory.objects.create(periodic_task=task, scheduled_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                                       fired_at=dt.datetime(2025, 1, 1, 0, 2, tzinfo=dt.UTC), late=True)
    page = admin_client.get("/admin/periodic_app/periodictask/?enabled__exact=0")
    assert page.status_code == 200 and b"admin me" in page.content and b"*/5 * * * * (m/h/d/dM/MY)" in page.content
    assert admin_client.get(f"/admin/periodic_app/periodictask/{task.pk}/change/").status_code == 200
    for query in ("", "?success__exact=0", "?late__exact=1", "?skipped__exact=0"):
        assert admin_client.get(f"/admin/periodic_app/periodictaskhistory/{query}").status_code == 200

    admin_client.post("/admin/periodic_app/periodictask/", {"action": "enable", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.enabled and task.next_run_at is not None
    admin_client.post("/admin/periodic_app/periodictask/", {"action": "disable", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert not task.enabled and task.next_run_at is None
    # History is read-only.
    entry = PeriodicTaskHistory.objects.get()
    assert admin_client.get("/admin/periodic_app/periodictaskhistory/add/").status_code == 403
    assert admin_client.post(f"/admin/periodic_app/periodictaskhistory/{entry.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.count() == 1
