"""A periodic task's cron fields, rendered and parsed; its constants from the stored tree."""
from __future__ import annotations

from periodic_app.cron import parse_cron
from periodic_app.models import PeriodicTask


def test_schedule_round_trip_and_display():
    task = PeriodicTask(pipeline_tree={"constants": {"${a}": {"value": 1}}})
    task.set_schedule(parse_cron({"minute": "*/5", "hour": "9", "day_of_week": "mon-fri"}))
    assert task.cron_fields == {"minute": "*/5", "hour": "9", "day_of_week": "mon-fri", "day_of_month": "*",
                                "month_of_year": "*"}
    assert task.cron == "*/5 9 mon-fri * * (m/h/d/dM/MY)"
    assert task.schedule.fields() == task.cron_fields
    assert task.constants == {"${a}": {"value": 1}}
    assert PeriodicTask(pipeline_tree=None).constants == {}
