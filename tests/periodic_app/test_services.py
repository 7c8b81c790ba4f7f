"""Writes on periodic tasks: the cron parameter, names, enabling, and edits of an enabled task."""
from __future__ import annotations

import datetime as dt

import pytest

from periodic_app import services
from periodic_app.cron import parse_cron
from sops_common.errors import InvalidInput

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 1, 1, 0, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [{"minute": "5"}, '{"minute": "5"}', "5 * * * *", "5 * * * * (m/h/d/dM/MY)"])
def test_cron_parameter_forms(value):
    assert services.parse_cron_param(value).fields()["minute"] == "5"


@pytest.mark.parametrize(("value", "fragment"), [
    (None, "cron is required"), ("{bad", "cron is not valid JSON"), (5, "cron must be a dict"),
    ({"minute": "61"}, "minute"),
])
def test_bad_cron_parameters(value, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        services.parse_cron_param(value)


def test_names_and_overlap_policy(pt_world):
    with pytest.raises(InvalidInput, match="name must be a string of 1 to 50"):
        services.validate_name("x" * 51)
    with pytest.raises(InvalidInput, match="overlap_policy must be one of"):
        services.create_periodic_task(business=pt_world.business, template=pt_world.quick_template, name="n",
                                      cron=parse_cron({}), creator="admin", overlap_policy="sometimes")


def test_enable_disable_and_edits_keep_or_compute_the_next_fire(pt_world):
    task = services.create_periodic_task(business=pt_world.business, template=pt_world.quick_template,
                                         name="n", cron=parse_cron({"minute": "0"}), creator="admin")
    assert not task.enabled and task.next_run_at is None  # the API creates them disabled
    task = services.set_enabled(business=pt_world.business, task_id=task.pk, enabled=True, editor="max", now=NOW)
    assert task.next_run_at == dt.datetime(2025, 1, 1, 1, 0, tzinfo=dt.UTC) and task.editor == "max"
    task = services.modify_cron(business=pt_world.business, task_id=task.pk, cron=parse_cron({"minute": "30"}),
                                editor="max", now=NOW)
    assert task.next_run_at == dt.datetime(2025, 1, 1, 0, 30, tzinfo=dt.UTC)
    key = next(iter(task.constants))
    task = services.modify_constants(business=pt_world.business, task_id=task.pk,
                                     constants={key: "changed", "${undefined}": "ignored"}, editor="max", now=NOW)
    assert task.constants[key]["value"] == "changed" and "${undefined}" not in task.constants
    task = services.set_enabled(business=pt_world.business, task_id=task.pk, enabled=False, editor="max")
    assert not task.enabled and task.next_run_at is None
