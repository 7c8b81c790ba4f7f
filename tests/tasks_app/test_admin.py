"""The admin of tasks and their callback records: found by state, shown, never edited."""
from __future__ import annotations

import pytest

from tasks_app import services
from tasks_app.models import TaskCallbackRecord
from tests.support.task_world import create_task

pytestmark = pytest.mark.django_db


def test_lists_filters_and_pages(admin_client, world, fake_engine, settings):
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the callback_url below is loopback, which only an entry opens
    waiting = create_task(world, name="waiting task")
    done = create_task(world, name="done task", callback_url="http://127.0.0.1:9/hook")
    services.start_task(task=done, executor="alice", source="api")
    done.refresh_from_db()
    services.record_run_end(run_id=done.run_id, state="FINISHED", meta={"task_id": done.pk})
    for state, shown, hidden in (("created", b"waiting task", b"done task"),
                                 ("finished", b"done task", b"waiting task")):
        page = admin_client.get(f"/admin/tasks_app/taskinstance/?state={state}")
        assert page.status_code == 200 and shown in page.content and hidden not in page.content
    page = admin_client.get(f"/admin/tasks_app/taskinstance/{done.pk}/change/")
    assert page.status_code == 200 and b"Pipeline tree" in page.content
    record = TaskCallbackRecord.objects.get(task=done)
    assert admin_client.get(f"/admin/tasks_app/taskcallbackrecord/{record.pk}/change/").status_code == 200
    assert admin_client.get("/admin/tasks_app/taskcallbackrecord/?status=pending").status_code == 200
    assert waiting.pk != done.pk
