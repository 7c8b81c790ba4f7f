"""Writes on apps, user tickets, users, businesses and roles: each function is one transaction.

Raw secrets and tokens exist only in the return values of these functions; the
database keeps hashes (apps) and digests (tickets), so the caller must show a
new credential to its operator at once.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sops_common.errors import InvalidInput

from . import cache
from .hashing import hash_secret, token_digest
from .models import (
    APP_CODE_MAX_LENGTH,
    BUSINESS_NAME_MAX_LENGTH,
    App,
    Business,
    BusinessMember,
    Role,
    UserTicket,
    validate_time_zone,
)

ACCESS_TOKEN_DEFAULT_TTL = dt.timedelta(days=7)


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def _check_app_code(app_code: str) -> None:
    if not app_code or len(app_code) > APP_CODE_MAX_LENGTH or any(ch.isspace() for ch in app_code):
        raise InvalidInput(f"app_code must be 1 to {APP_CODE_MAX_LENGTH} characters without spaces")


@transaction.atomic
def create_app(*, app_code: str, name: str = "", secret: str | None = None,
               enabled: bool = True) -> tuple[App, str]:
    """Register an app; returns it with its raw secret (generated unless given)."""
    _check_app_code(app_code)
    if App.objects.filter(app_code=app_code).exists():
        raise InvalidInput(f"app[{app_code}] already exists")
    raw = secret or generate_secret()
    app = App(app_code=app_code, name=name or app_code, enabled=enabled)
    app.set_secret(raw)
    app.save()
    return app, raw


@transaction.atomic
def reset_app_secret(*, app: App, secret: str | None = None) -> str:
    """Give the app a new secret (generated unless given); the old one stops working at once."""
    raw = secret or generate_secret()
    app.set_secret(raw)
    app.save(update_fields=["secret_hash"])
    return raw


@transaction.atomic
def upgrade_secret_hash(*, app: App, raw: str) -> bool:
    """Store `raw` (just verified against an old-format hash) in the current form.

    Only if the stored hash is still the one that was verified: a secret reset meanwhile wins.
    """
    updated = App.objects.filter(pk=app.pk, secret_hash=app.secret_hash).update(secret_hash=hash_secret(raw))
    cache.clear()  # update() sends no signal
    return bool(updated)


@transaction.atomic
def set_apps_enabled(*, apps: Iterable[App], enabled: bool) -> int:
    count = App.objects.filter(pk__in=[a.pk for a in apps]).update(enabled=enabled)
    cache.clear()  # update() sends no signal
    return count


def _default_expiry(kind: str, expires_in: int | None) -> dt.datetime | None:
    if expires_in is not None:
        if expires_in <= 0:
            raise InvalidInput("expires_in must be a positive number of seconds")
        return timezone.now() + dt.timedelta(seconds=expires_in)
    # An access_token is a bearer credential handed to scripts: it expires by
    # default. A bk_token stands for a login session and lives until revoked.
    if kind == UserTicket.ACCESS_TOKEN:
        return timezone.now() + ACCESS_TOKEN_DEFAULT_TTL
    return None


def check_ticket_app(kind: str, app: App | None) -> None:
    """An access_token is issued for an app; a bk_token (a login ticket) for none."""
    if kind == UserTicket.ACCESS_TOKEN and app is None:
        raise InvalidInput("an access_token is issued for an app: give its app_code")
    if kind == UserTicket.BK_TOKEN and app is not None:
        raise InvalidInput("a bk_token is a user's login ticket and belongs to no app; give no app_code")


@transaction.atomic
def issue_ticket(*, user: User, kind: str = UserTicket.ACCESS_TOKEN, app: App | None = None,
                 expires_in: int | None = None, raw: str | None = None) -> tuple[UserTicket, str]:
    """Issue a ticket for `user` (an access_token for `app`); returns it with the raw token, never stored."""
    if kind not in (UserTicket.BK_TOKEN, UserTicket.ACCESS_TOKEN):
        raise InvalidInput(f"kind must be {UserTicket.BK_TOKEN} or {UserTicket.ACCESS_TOKEN}")
    check_ticket_app(kind, app)
    token = raw or generate_secret()
    digest = token_digest(token)
    if UserTicket.objects.filter(digest=digest).exists():
        raise InvalidInput("this token is already issued")
    ticket = UserTicket.objects.create(
        user=user, kind=kind, app=app, digest=digest, hint=token[:6], expires_at=_default_expiry(kind, expires_in),
    )
    return ticket, token


@transaction.atomic
def bind_ticket(*, ticket: UserTicket, app: App) -> UserTicket:
    """Bind an unbound access_token (one issued before tokens were bound to apps) to `app`, once."""
    if ticket.kind != UserTicket.ACCESS_TOKEN:
        raise InvalidInput("only an access_token is bound to an app")
    if ticket.app_id is not None and ticket.app_id != app.pk:
        raise InvalidInput(f"this access_token is already bound to app[{ticket.app}]; issue a new one instead")
    ticket.app = app
    ticket.save(update_fields=["app"])
    return ticket


@transaction.atomic
def revoke_tickets(*, tickets: Iterable[UserTicket]) -> int:
    count = UserTicket.objects.filter(pk__in=[t.pk for t in tickets], revoked=False).update(revoked=True)
    cache.clear()  # update() sends no signal
    return count


@transaction.atomic
def ensure_user(*, username: str, superuser: bool = False, password: str | None = None) -> User:
    """Fetch or create a user; a new one has no usable password unless one is given."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model(username=username, is_active=True)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
    elif password:
        user.set_password(password)
    if superuser:
        user.is_superuser = True
        user.is_staff = True
    user.save()
    return user


@transaction.atomic
def create_business(*, bk_biz_id: int, name: str, time_zone: str = "Asia/Shanghai") -> Business:
    if Business.objects.filter(bk_biz_id=bk_biz_id).exists():
        raise InvalidInput(f"business[bk_biz_id={bk_biz_id}] already exists")
    if not name or len(name) > BUSINESS_NAME_MAX_LENGTH:
        raise InvalidInput(f"business name must be 1 to {BUSINESS_NAME_MAX_LENGTH} characters")
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        raise InvalidInput(exc.messages[0]) from exc
    return Business.objects.create(bk_biz_id=bk_biz_id, name=name, time_zone=time_zone)


@transaction.atomic
def set_member_role(*, business: Business, user: User, role: str) -> BusinessMember:
    """Give `user` exactly `role` in `business` (creating the membership if needed)."""
    if role not in Role.values:
        raise InvalidInput(f"role must be one of {', '.join(Role.values)}")
    member, _ = BusinessMember.objects.update_or_create(business=business, user=user, defaults={"role": role})
    return member
