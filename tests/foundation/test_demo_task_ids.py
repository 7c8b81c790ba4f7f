"""The demo lines task ids up with the spec's examples (create_task answers 10, the rest use 10)."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from access_app.models import Business
from tasks_app import services
from templates_app.models import Template

pytestmark = pytest.mark.django_db


def _new_task_id() -> int:
    business = Business.objects.get(bk_biz_id=2)
    return services.create_task(business=business, template=Template.objects.get(pk=4), name="t",
                                creator="admin", app_code="demo").pk


def test_first_task_of_the_demo_is_10_and_a_rerun_keeps_counting(tmp_path, settings):
    settings.VAR_DIR = tmp_path  # the demo keeps its credentials file there
    call_command("bootstrap_demo", "--spec-placeholders", "--json")
    assert _new_task_id() == 10
    call_command("bootstrap_demo", "--spec-placeholders", "--json")  # idempotent: tasks exist now
    assert _new_task_id() == 11
