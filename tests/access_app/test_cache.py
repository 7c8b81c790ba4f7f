"""The identity cache: remembered lookups never outlive a change made in this process."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from access_app import cache as auth_cache
from access_app import services
from access_app.hashing import token_digest
from access_app.models import App, BusinessMember, Role, UserTicket

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sops_api.apigw.urls"),
              pytest.mark.usefixtures("fresh_cache")]

LIST_URL = "/apigw/get_template_list/2/"
OPERATOR_URL = "/apigw/test_operator_only/2/"


@pytest.fixture
def fresh_cache():
    auth_cache.clear()
    with override_settings(SOPS_AUTH_CACHE_SECONDS=60):
        yield
    auth_cache.clear()


def result(client, params, url=LIST_URL):
    return client.get(url, params).json()


def test_repeated_calls_skip_the_identity_queries(client, gate, django_assert_max_num_queries):
    assert result(client, gate.creds())["result"] is True
    # Warm: only the endpoint's own query (the template list) is left.
    with django_assert_max_num_queries(1):
        assert result(client, gate.creds())["result"] is True


def test_revoking_a_ticket_takes_effect_at_once(client, gate):
    assert result(client, gate.creds())["result"] is True
    ticket = UserTicket.objects.get(digest=token_digest(gate.tokens["olivia"]))
    services.revoke_tickets(tickets=[ticket])  # a QuerySet.update(): no signal
    assert "unknown or revoked" in result(client, gate.creds())["message"]


def test_disabling_the_app_takes_effect_at_once(client, gate):
    assert result(client, gate.creds())["result"] is True
    services.set_apps_enabled(apps=App.objects.filter(app_code=gate.app_code), enabled=False)
    assert "is disabled" in result(client, gate.creds())["message"]


def test_role_change_takes_effect_at_once(client, gate):
    assert result(client, gate.creds("olivia"), OPERATOR_URL)["result"] is True
    member = BusinessMember.objects.get(user__username="olivia")
    member.role = Role.VIEWER
    member.save()
    assert "needs the operator role" in result(client, gate.creds("olivia"), OPERATOR_URL)["message"]


def test_a_remembered_ticket_still_expires(client, gate):
    UserTicket.objects.filter(digest=token_digest(gate.tokens["olivia"])).update(
        expires_at=timezone.now() + dt.timedelta(seconds=1))
    auth_cache.clear()
    assert result(client, gate.creds())["result"] is True  # now remembered for 60 s
    time.sleep(1.1)
    assert "expired" in result(client, gate.creds())["message"]


def test_the_memory_is_bounded_in_bytes_and_a_huge_entry_is_not_remembered(settings):
    """Keys carry what callers send: 4,096 entries of 2 MiB app codes would hold 8 GiB."""
    settings.SOPS_AUTH_CACHE_BYTES = 64 * 1024
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return "found"

    huge = "x" * 100_000  # heavier than a quarter of the budget
    for _ in range(2):
        assert auth_cache.remember(("app", huge), lambda: compute("huge")) == "found"
    assert calls == ["huge", "huge"]  # asked again: never stored
    for i in range(40):  # ~5 KB each: the budget holds about a dozen
        auth_cache.remember(("app", f"{i:05d}" + "y" * 5000), lambda i=i: compute(str(i)))
    entries = auth_cache._entries()
    assert 5 < len(entries) < 20 and entries.bytes <= 64 * 1024
    calls.clear()
    auth_cache.remember(("app", f"{39:05d}" + "y" * 5000), lambda: compute("39"))
    auth_cache.remember(("app", f"{0:05d}" + "y" * 5000), lambda: compute("0"))
    assert calls == ["0"]  # the newest is still remembered, the oldest was dropped
