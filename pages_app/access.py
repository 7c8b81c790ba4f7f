"""Who may see and act on a business's pages: the user's role in it.

The only module of the pages that reads businesses and roles, so moving those models
changes one import here.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from access_app.models import ROLE_RANK, Business, BusinessMember, Role

__all__ = ["Refused", "businesses_of", "can_operate", "require_role", "role_in", "role_in_any"]


class Refused(PermissionDenied):
    """The user has no role in the business, or not the one the request needs."""


def role_in(user: Any, business: Business) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.MAINTAINER
    return BusinessMember.objects.filter(business=business, user=user).values_list("role", flat=True).first()


def businesses_of(user: Any) -> list[tuple[Business, str]]:
    """The businesses the user has a role in, with the role; a superuser has every business."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    if user.is_superuser:
        return [(b, Role.MAINTAINER) for b in Business.objects.order_by("bk_biz_id")]
    rows = BusinessMember.objects.filter(user=user).select_related("business").order_by("business__bk_biz_id")
    return [(m.business, m.role) for m in rows]


def role_in_any(user: Any) -> str | None:
    """The highest role the user has anywhere: what common templates (no business) are shown with."""
    roles = [role for _b, role in businesses_of(user)]
    return max(roles, key=lambda r: ROLE_RANK[Role(r)]) if roles else None


def can_operate(role: str | None) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role.OPERATOR]


def require_role(user: Any, business: Business, *, operate: bool = False) -> str:
    """The user's role in `business`; Refused without one (or without operator rights when `operate`)."""
    role = role_in(user, business)
    if role is None:
        raise Refused("You have no role in this business.")
    if operate and not can_operate(role):
        raise Refused(f"Your role in this business is {role}; this action needs the operator role.")
    return role
