"""Identity and access: which app calls, for which user, with which role in the business.

Credentials may arrive in the query string, the JSON body, or an
`X-Bkapi-Authorization` header holding a JSON object. ESB-style SDKs send
`bk_app_code`/`bk_app_secret`; the spec's examples send `app_code`/`app_secret`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from sops_api.models import App, UserTicket, token_digest
from templates_app.models import ROLE_RANK, Business, BusinessMember, Role

from . import auth_cache
from .errors import Forbidden, NotFound
from .limits import parse_id

CREDENTIAL_KEYS = ("app_code", "app_secret", "bk_app_code", "bk_app_secret", "bk_token", "access_token")


@dataclass
class Caller:
    app: App
    user: AbstractBaseUser
    role: str | None = None  # the user's role in the business of the request, if any


def _header_credentials(request: HttpRequest) -> dict[str, Any]:
    raw = request.headers.get("X-Bkapi-Authorization")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Forbidden("X-Bkapi-Authorization header is not a JSON object") from exc
    if not isinstance(value, dict):
        raise Forbidden("X-Bkapi-Authorization header is not a JSON object")
    return value


def credentials(request: HttpRequest, params: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for source in (params, _header_credentials(request)):
        for key in CREDENTIAL_KEYS:
            value = source.get(key)
            if value not in (None, ""):
                found[key] = str(value)
    return found


def authenticate(request: HttpRequest, params: dict[str, Any]) -> Caller:
    creds = credentials(request, params)
    app_code = creds.get("bk_app_code") or creds.get("app_code")
    app_secret = creds.get("bk_app_secret") or creds.get("app_secret")
    if not app_code:
        raise Forbidden("app authentication failed: app_code is missing")
    app = auth_cache.remember(("app", app_code), lambda: App.objects.filter(app_code=app_code).first())
    # The same message for an unknown app and a wrong secret: do not reveal which apps exist.
    if app is None or not app.check_secret(app_secret or ""):
        raise Forbidden("app authentication failed: app_code or app_secret is wrong")
    if not app.enabled:
        raise Forbidden(f"app authentication failed: app[{app_code}] is disabled")

    raw_token = creds.get("bk_token") or creds.get("access_token")
    if not raw_token:
        raise Forbidden("user authentication failed: bk_token or access_token is required")
    digest = token_digest(raw_token)
    ticket = auth_cache.remember(("ticket", digest), lambda: (
        UserTicket.objects.select_related("user").filter(digest=digest, revoked=False).first()))
    if ticket is None:
        raise Forbidden("user authentication failed: the bk_token or access_token is unknown or revoked")
    if ticket.is_expired:  # checked on every use, remembered or not
        raise Forbidden("user authentication failed: the ticket has expired")
    if not ticket.user.is_active:
        raise Forbidden(f"user authentication failed: user[username={ticket.user.get_username()}] is inactive")
    return Caller(app=app, user=ticket.user)


def load_business(raw_biz_id: Any) -> Business:
    biz_id = parse_id(raw_biz_id, "bk_biz_id")
    business = auth_cache.remember(("business", biz_id), lambda: Business.objects.filter(bk_biz_id=biz_id).first())
    if business is None:
        raise NotFound(f"business[bk_biz_id={biz_id}] does not exist")
    return business


def authorize(caller: Caller, business: Business, required: str) -> None:
    """Refuse unless the caller's role in the business reaches `required`."""
    user = caller.user
    if user.is_superuser:
        caller.role = Role.MAINTAINER
        return
    role = auth_cache.remember(("role", business.pk, user.pk), lambda: (
        BusinessMember.objects.filter(business=business, user=user).values_list("role", flat=True).first()))
    if role is None:
        raise Forbidden(f"user[username={user.get_username()}] does not have perm of "
                        f"business:[bk_biz_id={business.bk_biz_id}]")
    caller.role = role
    if ROLE_RANK[Role(role)] < ROLE_RANK[Role(required)]:
        raise Forbidden(f"user[username={user.get_username()}] is {role} of business[bk_biz_id="
                        f"{business.bk_biz_id}]; this operation needs the {required} role")
