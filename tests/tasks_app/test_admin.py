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


def test_an_admin_edit_is_in_the_audit_log(admin_client, world, fake_engine):
    from tasks_app.models import TaskInstance, TaskOperation

    task = create_task(world, name="before")
    page = admin_client.get(f"/admin/tasks_app/taskinstance/{task.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items() if not isinstance(v, bool) or v}
    data.update({"name": "after", "is_deleted": "on"})
    data.update({"callback_records-TOTAL_FORMS": "0", "callback_records-INITIAL_FORMS": "0",
                 "operations-TOTAL_FORMS": "1", "operations-INITIAL_FORMS": "1",
                 "operations-0-id": str(TaskOperation.objects.get(task=task).pk), "operations-0-task": str(task.pk)})
    answer = admin_client.post(f"/admin/tasks_app/taskinstance/{task.pk}/change/", data)
    assert answer.status_code == 302, answer.content[:2000]
    assert TaskInstance.objects.get(pk=task.pk).name == "after"
    logged = TaskOperation.objects.filter(task=task).order_by("id")
    assert [(o.operate_type, o.operate_source, o.operator) for o in logged] == [
        ("create", "api", "alice"), ("delete", "admin", "admin")]
    assert logged[1].extra_info["fields"]["name"] == "after"
