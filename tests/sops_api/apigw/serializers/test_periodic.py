"""The periodic-task endpoints' inputs: cron in each of its forms, the original's messages."""
from __future__ import annotations

import json

import pytest

from sops_api.apigw.serializers import periodic
from sops_common.errors import InvalidInput

CRON = {"minute": "*/1", "hour": "15"}


def refused(serializer, **params) -> str:
    with pytest.raises(InvalidInput) as caught:
        serializer.parse(params)
    return caught.value.message


@pytest.mark.parametrize("raw", [CRON, json.dumps(CRON), "*/1 15 * * *", json.dumps("*/1 15 * * *")])
def test_cron_as_an_object_json_text_or_the_display_form(raw):
    assert periodic.ModifyCronInput.parse({"cron": raw})["cron"].text == "*/1 15 * * * (m/h/d/dM/MY)"


@pytest.mark.parametrize("raw", [None, ""])
def test_a_missing_cron_says_what_it_needs(raw):
    params = {} if raw is None else {"cron": raw}
    assert refused(periodic.ModifyCronInput, **params) == periodic.CRON_REQUIRED
    assert refused(periodic.ModifyCronInput, cron=None) == periodic.CRON_REQUIRED


def test_a_bad_cron_field_is_named():
    assert "hour" in refused(periodic.ModifyCronInput, cron={"hour": "25"})


def test_create_periodic_task_checks_name_then_cron():
    assert refused(periodic.CreatePeriodicTaskInput, name="", cron=None).startswith(
        "task params is invalid: name must be a string of 1 to 50")
    assert refused(periodic.CreatePeriodicTaskInput, name="n") == periodic.CRON_REQUIRED
    assert refused(periodic.CreatePeriodicTaskInput, name="n", cron=CRON, overlap_policy="x") == \
        "overlap_policy must be one of allow, skip"
    given = periodic.CreatePeriodicTaskInput.parse({"name": "n", "cron": CRON})
    assert given["constants"] == {} and given["exclude_task_nodes_id"] == [] and given["overlap_policy"] == "allow"


def test_enabled_defaults_to_false():
    assert periodic.SetPeriodicTaskEnabledInput.parse({}) == {"enabled": False}
    assert periodic.SetPeriodicTaskEnabledInput.parse({"enabled": "true"}) == {"enabled": True}
    assert refused(periodic.SetPeriodicTaskEnabledInput, enabled="maybe") == "enabled must be a boolean"
