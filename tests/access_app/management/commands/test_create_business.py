"""create_business: output, duplicates and time zones."""
from __future__ import annotations

import pytest
from django.core.management import CommandError

from access_app.models import Business
from tests.support.commands import run, run_json

pytestmark = pytest.mark.django_db


def test_create_business():
    data = run_json("create_business", "--bk-biz-id", "5", "--name", "ops", "--time-zone", "Europe/Paris")
    assert data == {"bk_biz_id": 5, "name": "ops", "time_zone": "Europe/Paris"}
    assert Business.objects.get(bk_biz_id=5).time_zone == "Europe/Paris"


def test_create_business_human_text():
    assert "business 6 ops created (Asia/Shanghai)" in run("create_business", "--bk-biz-id", "6", "--name", "ops")


def test_create_business_refuses_duplicates_and_bad_zones():
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    with pytest.raises(CommandError, match="already exists"):
        run("create_business", "--bk-biz-id", "5", "--name", "again")
    with pytest.raises(CommandError, match="not an IANA time zone"):
        run("create_business", "--bk-biz-id", "8", "--name", "x", "--time-zone", "Mars/Olympus")
    assert not Business.objects.filter(bk_biz_id=8).exists()
