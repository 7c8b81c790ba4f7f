"""Reads on businesses, tickets and app secrets."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from sops_common.errors import InvalidInput, NotFound

from . import cache
from .hashing import LEGACY, token_digest
from .models import App, Business, UserTicket


def get_business(raw_biz_id: Any) -> Business:
    """The business named by a path or parameter value (remembered briefly, see cache.py)."""
    try:
        biz_id = int(str(raw_biz_id))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"bk_biz_id[{raw_biz_id}] must be an integer") from exc
    business = cache.remember(("business", biz_id), lambda: Business.objects.filter(bk_biz_id=biz_id).first())
    if business is None:
        raise NotFound(f"business[bk_biz_id={biz_id}] does not exist")
    return business


def ticket_for_token(raw: str) -> UserTicket | None:
    """The ticket a raw token stands for, usable or not."""
    return UserTicket.objects.filter(digest=token_digest(raw)).select_related("user").first()


def ticket_is_usable(ticket: UserTicket | None, user: User | None = None) -> bool:
    """Not revoked, not expired, and (when `user` is given) that user's."""
    return (ticket is not None and not ticket.revoked and not ticket.is_expired
            and (user is None or ticket.user_id == user.pk))


def legacy_secrets_remain() -> bool:
    """Whether any app still keeps a secret hash of the old PBKDF2 format (remembered briefly, see cache.py).

    While one does, every failing secret check pays a PBKDF2 run (access_app/hashing.py), so that no answer's
    time tells an app with an old hash from one that does not exist.
    """
    return cache.remember(("legacy-secrets",), lambda: (
        App.objects.filter(secret_hash__startswith=f"{LEGACY}$").exists()))
