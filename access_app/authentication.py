"""Who calls: the app and the user, from an access_token alone or from app credentials with a user ticket.

The rules (README, "Authentication"), as BlueKing's OAuth has them:

- an access_token was issued for one app and stands for that app and its
  user: alone it is enough; with app credentials they must be its own app's;
- a bk_token is a user's login ticket: it needs app credentials, of any
  enabled app;
- each kind is accepted only under its own name, and one call names one user
  (a bk_token and an access_token together are refused);
- an access_token issued before tokens were bound to apps (no app, see
  migrations/0002) works with app credentials only.

Whether an app exists is never told, not by the message nor by the time the
answer takes (hashing.check_secret does the same work for an unknown app).
Where the credentials come from (query, body, header) is the API layer's
business (sops_api/apigw/authentication.py); this module only checks them.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from sops_common.errors import Forbidden

from . import cache, services
from .hashing import check_secret, token_digest
from .models import App, UserTicket
from .selectors import legacy_secrets_remain


@dataclass
class Caller:
    app: App
    user: User
    role: str | None = None  # the user's role in the business of the request, once authorised


def authenticate(*, app_code: str | None = None, app_secret: str | None = None,
                 bk_token: str | None = None, access_token: str | None = None) -> Caller:
    """The caller these credentials stand for; Forbidden, saying which check failed, otherwise."""
    if bk_token and access_token:
        raise Forbidden("user authentication failed: send a bk_token or an access_token, not both")
    if access_token and not (app_code or app_secret):
        return _by_access_token(access_token)
    if not app_code:
        raise Forbidden("app authentication failed: app_code is missing (an access_token may be sent alone; "
                        "a bk_token needs app_code and app_secret)")
    app = _app(app_code, app_secret or "")
    if bk_token:
        ticket = _ticket(UserTicket.BK_TOKEN, bk_token)
    elif access_token:
        ticket = _ticket(UserTicket.ACCESS_TOKEN, access_token)
        if ticket.app_id is not None and ticket.app_id != app.pk:
            raise Forbidden(f"app authentication failed: the access_token was issued for another app, "
                            f"not app[{app_code}]; send it alone or with its own app's credentials")
    else:
        raise Forbidden("user authentication failed: bk_token or access_token is required")
    return _caller(app, ticket)


def _app(app_code: str, app_secret: str) -> App:
    app = cache.remember(("app", app_code), lambda: App.objects.filter(app_code=app_code).first())
    verdict = check_secret(app_secret, app.secret_hash if app else None, legacy_in_use=legacy_secrets_remain())
    # The same message for an unknown app and a wrong secret: do not reveal which apps exist.
    if app is None or not verdict.ok:
        raise Forbidden("app authentication failed: app_code or app_secret is wrong")
    if verdict.rehash:
        services.upgrade_secret_hash(app=app, raw=app_secret)
    if not app.enabled:
        raise Forbidden(f"app authentication failed: app[{app_code}] is disabled")
    return app


def _by_access_token(raw: str) -> Caller:
    ticket = _ticket(UserTicket.ACCESS_TOKEN, raw)
    app = ticket.app
    if app is None:
        raise Forbidden("app authentication failed: this access_token was issued before tokens were bound to "
                        "apps; send it with app_code and app_secret, or issue a new one (issue_token --app-code)")
    if not app.enabled:
        raise Forbidden(f"app authentication failed: app[{app.app_code}] is disabled")
    return _caller(app, ticket)


_A = {UserTicket.BK_TOKEN: "a bk_token", UserTicket.ACCESS_TOKEN: "an access_token"}


def _ticket(kind: str, raw: str) -> UserTicket:
    digest = token_digest(raw)
    ticket: UserTicket | None = cache.remember(("ticket", digest), lambda: (
        UserTicket.objects.select_related("user", "app").filter(digest=digest, revoked=False).first()))
    if ticket is None:
        raise Forbidden(f"user authentication failed: the {kind} is unknown or revoked")
    if ticket.kind != kind:
        raise Forbidden(f"user authentication failed: {_A[ticket.kind]} was sent as {kind}; "
                        f"send it as {ticket.kind}")
    if ticket.is_expired:  # checked on every use, remembered or not
        raise Forbidden(f"user authentication failed: the {kind} has expired")
    return ticket


def _caller(app: App, ticket: UserTicket) -> Caller:
    if not ticket.user.is_active:
        raise Forbidden(f"user authentication failed: user[username={ticket.user.get_username()}] is inactive")
    return Caller(app=app, user=ticket.user)
