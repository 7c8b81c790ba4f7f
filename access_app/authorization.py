"""Whether a user's role in a business allows an operation (superusers are maintainers everywhere)."""
from __future__ import annotations

from django.contrib.auth.models import User

from sops_common.errors import Forbidden

from . import cache
from .models import ROLE_RANK, Business, BusinessMember, Role


def role_in(user: User, business: Business) -> str | None:
    """The user's role in the business (remembered briefly, see cache.py); None for an outsider."""
    if user.is_superuser:
        return Role.MAINTAINER
    return cache.remember(("role", business.pk, user.pk), lambda: (
        BusinessMember.objects.filter(business=business, user=user).values_list("role", flat=True).first()))


def authorize(user: User, business: Business, required: str) -> str:
    """The user's role in the business if it reaches `required`; Forbidden otherwise."""
    role = role_in(user, business)
    if role is None:
        raise Forbidden(f"user[username={user.get_username()}] does not have perm of "
                        f"business:[bk_biz_id={business.bk_biz_id}]")
    if ROLE_RANK[Role(role)] < ROLE_RANK[Role(required)]:
        raise Forbidden(f"user[username={user.get_username()}] is {role} of business[bk_biz_id="
                        f"{business.bk_biz_id}]; this operation needs the {required} role")
    return role
