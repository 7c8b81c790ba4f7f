"""Who calls: the app (app_code + app_secret) and the user (bk_token or access_token).

Where the credentials come from (query, body, header) is the API layer's
business (sops_api/apigw/authentication.py); this module only checks them.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from sops_common.errors import Forbidden

from . import cache
from .hashing import token_digest
from .models import App, UserTicket


@dataclass
class Caller:
    app: App
    user: User
    role: str | None = None  # the user's role in the business of the request, once authorised


def authenticate(*, app_code: str | None, app_secret: str | None, token: str | None) -> Caller:
    """The caller these credentials stand for; Forbidden, saying which check failed, otherwise."""
    if not app_code:
        raise Forbidden("app authentication failed: app_code is missing")
    app = cache.remember(("app", app_code), lambda: App.objects.filter(app_code=app_code).first())
    # The same message for an unknown app and a wrong secret: do not reveal which apps exist.
    if app is None or not app.check_secret(app_secret or ""):
        raise Forbidden("app authentication failed: app_code or app_secret is wrong")
    if not app.enabled:
        raise Forbidden(f"app authentication failed: app[{app_code}] is disabled")

    if not token:
        raise Forbidden("user authentication failed: bk_token or access_token is required")
    digest = token_digest(token)
    ticket = cache.remember(("ticket", digest), lambda: (
        UserTicket.objects.select_related("user").filter(digest=digest, revoked=False).first()))
    if ticket is None:
        raise Forbidden("user authentication failed: the bk_token or access_token is unknown or revoked")
    if ticket.is_expired:  # checked on every use, remembered or not
        raise Forbidden("user authentication failed: the ticket has expired")
    if not ticket.user.is_active:
        raise Forbidden(f"user authentication failed: user[username={ticket.user.get_username()}] is inactive")
    return Caller(app=app, user=ticket.user)
