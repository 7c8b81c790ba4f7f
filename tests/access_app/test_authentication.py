"""Checking credentials: an access_token stands for its app, a bk_token needs one; each kind under its name.

Which check failed is said, but never whether an app exists (nor by time:
tests/sops_api/apigw/test_authentication_timing.py).
"""
from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from access_app import cache, services
from access_app.authentication import authenticate
from access_app.hashing import token_digest
from access_app.models import App, UserTicket
from sops_common.errors import Forbidden
from tests.access_app.legacy import legacy_secret_hash
from tests.support.gate import SECRET

pytestmark = pytest.mark.django_db

OTHER_SECRET = "another-app-secret"


@pytest.fixture
def other_app(gate) -> App:
    return services.create_app(app_code="other-app", secret=OTHER_SECRET)[0]


@pytest.fixture
def bk_token(gate) -> str:
    return services.issue_ticket(user=get_user_model().objects.get(username="olivia"), kind="bk_token")[1]


def refused(fragment: str, **credentials) -> str:
    with pytest.raises(Forbidden) as refusal:
        authenticate(**credentials)
    assert fragment in refusal.value.message, refusal.value.message
    return refusal.value.message


def test_an_access_token_alone_names_its_app_and_its_user(gate):
    caller = authenticate(access_token=gate.tokens["olivia"])
    assert caller.app.app_code == "test-app" and caller.user.get_username() == "olivia" and caller.role is None


def test_an_access_token_with_its_own_apps_credentials(gate):
    caller = authenticate(app_code="test-app", app_secret=SECRET, access_token=gate.tokens["olivia"])
    assert (caller.app.app_code, caller.user.get_username()) == ("test-app", "olivia")


def test_an_access_token_with_another_apps_credentials_is_refused(gate, other_app):
    message = refused("the access_token was issued for another app, not app[other-app]",
                      app_code="other-app", app_secret=OTHER_SECRET, access_token=gate.tokens["olivia"])
    assert message.startswith("app authentication failed:")


def test_a_bk_token_works_with_any_enabled_app_and_never_alone(gate, other_app, bk_token):
    for code, secret in (("test-app", SECRET), ("other-app", OTHER_SECRET)):
        caller = authenticate(app_code=code, app_secret=secret, bk_token=bk_token)
        assert (caller.app.app_code, caller.user.get_username()) == (code, "olivia")
    refused("app authentication failed: app_code is missing", bk_token=bk_token)


def test_each_kind_is_accepted_only_under_its_own_name(gate, bk_token):
    refused("a bk_token was sent as access_token; send it as bk_token", access_token=bk_token)
    refused("a bk_token was sent as access_token", app_code="test-app", app_secret=SECRET, access_token=bk_token)
    refused("an access_token was sent as bk_token", app_code="test-app", app_secret=SECRET,
            bk_token=gate.tokens["olivia"])


def test_one_user_per_call(gate, bk_token):
    refused("send a bk_token or an access_token, not both", app_code="test-app", app_secret=SECRET,
            bk_token=bk_token, access_token=gate.tokens["olivia"])


@pytest.mark.parametrize(("given", "message"), [
    ({"app_code": None}, "app authentication failed: app_code is missing"),
    ({"app_code": "nobody"}, "app authentication failed: app_code or app_secret is wrong"),
    ({"app_secret": "wrong"}, "app authentication failed: app_code or app_secret is wrong"),
    ({"app_secret": None}, "app authentication failed: app_code or app_secret is wrong"),
    ({"access_token": None}, "user authentication failed: bk_token or access_token is required"),
    ({"access_token": "unknown"}, "user authentication failed: the access_token is unknown or revoked"),
    ({"access_token": None, "bk_token": "unknown"}, "user authentication failed: the bk_token is unknown or revoked"),
])
def test_each_refusal_says_which_check_failed(gate, given, message):
    credentials = {"app_code": "test-app", "app_secret": SECRET, "access_token": gate.tokens["olivia"], **given}
    assert refused(message, **credentials).startswith(message)


def test_nothing_at_all_is_refused(gate):
    refused("app authentication failed: app_code is missing")


def test_a_token_alone_is_refused_when_revoked_expired_or_its_app_disabled(gate):
    olivia, vera, max_ = gate.tokens["olivia"], gate.tokens["vera"], gate.tokens["max"]
    services.revoke_tickets(tickets=UserTicket.objects.filter(digest=token_digest(olivia)))
    refused("the access_token is unknown or revoked", access_token=olivia)
    UserTicket.objects.filter(digest=token_digest(vera)).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    cache.clear()  # QuerySet.update() sends no signal: cleared by hand, as the services do
    refused("the access_token has expired", access_token=vera)
    assert authenticate(access_token=max_).user.get_username() == "max"
    services.set_apps_enabled(apps=App.objects.filter(app_code="test-app"), enabled=False)
    refused("app authentication failed: app[test-app] is disabled", access_token=max_)
    refused("app authentication failed: app[test-app] is disabled",
            app_code="test-app", app_secret=SECRET, access_token=max_)


def test_inactive_user(gate, bk_token):
    get_user_model().objects.filter(username="olivia").update(is_active=False)
    cache.clear()
    for credentials in ({"access_token": gate.tokens["olivia"]},
                        {"app_code": "test-app", "app_secret": SECRET, "bk_token": bk_token}):
        refused("user[username=olivia] is inactive", **credentials)


def test_an_unbound_access_token_works_with_any_apps_credentials_never_alone(gate, other_app):
    """An access_token issued before tokens were bound to apps (migrations/0002 leaves its app empty)."""
    UserTicket.objects.filter(digest=token_digest(gate.tokens["olivia"])).update(app=None)
    cache.clear()
    refused("this access_token was issued before tokens were bound to apps; send it with app_code and "
            "app_secret", access_token=gate.tokens["olivia"])
    for code, secret in (("test-app", SECRET), ("other-app", OTHER_SECRET)):
        assert authenticate(app_code=code, app_secret=secret, access_token=gate.tokens["olivia"]).app.app_code == code


def test_an_old_pbkdf2_secret_is_upgraded_on_its_first_successful_use(gate):
    App.objects.filter(app_code="test-app").update(secret_hash=legacy_secret_hash(SECRET))
    cache.clear()
    refused("app_code or app_secret is wrong", app_code="test-app", app_secret="wrong", bk_token=None,
            access_token=gate.tokens["olivia"])
    assert App.objects.get(app_code="test-app").secret_hash.startswith("pbkdf2_sha256$")  # a failure changes nothing
    authenticate(app_code="test-app", app_secret=SECRET, access_token=gate.tokens["olivia"])
    stored = App.objects.get(app_code="test-app").secret_hash
    assert stored.startswith("hmac_sha256$")
    authenticate(app_code="test-app", app_secret=SECRET, access_token=gate.tokens["olivia"])
    assert App.objects.get(app_code="test-app").secret_hash == stored  # upgraded once
    refused("app_code or app_secret is wrong", app_code="test-app", app_secret="wrong",
            access_token=gate.tokens["olivia"])


def test_an_upgrade_never_overwrites_a_secret_reset_meanwhile(gate):
    App.objects.filter(app_code="test-app").update(secret_hash=legacy_secret_hash(SECRET))
    seen = App.objects.get(app_code="test-app")  # what a request verified against
    fresh = services.reset_app_secret(app=App.objects.get(app_code="test-app"))
    assert services.upgrade_secret_hash(app=seen, raw=SECRET) is False
    app = App.objects.get(app_code="test-app")
    assert app.check_secret(fresh) and not app.check_secret(SECRET)
