"""The identity models' own rules: secrets, ticket expiry, business time zones."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from access_app.models import App, Business, UserTicket, validate_time_zone


def test_an_app_checks_its_secret_and_never_an_empty_one():
    app = App(app_code="a")
    app.set_secret("s3")
    assert app.check_secret("s3") and not app.check_secret("") and not app.check_secret("s4")
    assert "s3" not in app.secret_hash


def test_a_ticket_without_expiry_never_expires():
    assert not UserTicket(expires_at=None).is_expired
    assert UserTicket(expires_at=timezone.now() - dt.timedelta(seconds=1)).is_expired
    assert not UserTicket(expires_at=timezone.now() + dt.timedelta(hours=1)).is_expired


def test_time_zones():
    assert Business(time_zone="Europe/Paris").tzinfo == zoneinfo.ZoneInfo("Europe/Paris")
    assert Business(time_zone="").tzinfo == zoneinfo.ZoneInfo("UTC")
    validate_time_zone("Asia/Shanghai")
    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        validate_time_zone("Mars/Olympus")
