"""Checking credentials: which check failed is said, but never whether an app exists."""
from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from access_app import cache
from access_app.authentication import authenticate
from access_app.models import App, UserTicket
from sops_common.errors import Forbidden
from tests.support.gate import SECRET

pytestmark = pytest.mark.django_db


def test_good_credentials_name_the_app_and_the_user(gate):
    caller = authenticate(app_code="test-app", app_secret=SECRET, token=gate.tokens["olivia"])
    assert caller.app.app_code == "test-app" and caller.user.get_username() == "olivia" and caller.role is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"app_code": None}, "app authentication failed: app_code is missing"),
    ({"app_code": "nobody"}, "app authentication failed: app_code or app_secret is wrong"),
    ({"app_secret": "wrong"}, "app authentication failed: app_code or app_secret is wrong"),
    ({"token": None}, "user authentication failed: bk_token or access_token is required"),
    ({"token": "unknown"}, "user authentication failed: the bk_token or access_token is unknown or revoked"),
])
def test_each_refusal_says_which_check_failed(gate, kwargs, message):
    given = {"app_code": "test-app", "app_secret": SECRET, "token": gate.tokens["olivia"], **kwargs}
    with pytest.raises(Forbidden) as refused:
        authenticate(**given)
    assert refused.value.message == message


def test_disabled_app_expired_ticket_and_inactive_user(gate):
    # QuerySet.update() sends no signal: the identity cache is cleared by hand, as the services do.
    creds = {"app_code": "test-app", "app_secret": SECRET, "token": gate.tokens["olivia"]}
    App.objects.filter(app_code="test-app").update(enabled=False)
    cache.clear()
    with pytest.raises(Forbidden, match=r"app\[test-app\] is disabled"):
        authenticate(**creds)
    App.objects.filter(app_code="test-app").update(enabled=True)
    get_user_model().objects.filter(username="olivia").update(is_active=False)
    cache.clear()
    with pytest.raises(Forbidden, match=r"user\[username=olivia\] is inactive"):
        authenticate(**creds)
    UserTicket.objects.filter(user__username="olivia").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    cache.clear()
    with pytest.raises(Forbidden, match="has expired"):
        authenticate(**creds)
