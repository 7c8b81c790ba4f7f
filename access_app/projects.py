"""Businesses as the original's projects: lookup by `scope`, the projects a user may view, one's detail.

The original keeps projects with an internal id, most of them bound to a CMDB
business (`bk_biz_id`). A sops business is both: its primary key is the
project id, `bk_biz_id` the CMDB id, and every business counts as bound to CMDB.
Member roles stand in for the CMDB role lists: maintainers are `bk_biz_maintainer`,
operators `bk_biz_developer`, viewers `bk_biz_tester`.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from sops_common.errors import InvalidInput, NotFound
from sops_common.limits import parse_id

from .authorization import role_in
from .models import ROLE_RANK, Business, BusinessMember, Role
from .selectors import get_business

CMDB_BIZ, PROJECT = "cmdb_biz", "project"
SCOPES = (CMDB_BIZ, PROJECT)

#: project actions, and the role each needs in the business
PROJECT_ACTIONS = {"project_view": Role.VIEWER, "project_fast_create_task": Role.OPERATOR,
                   "project_edit": Role.MAINTAINER}
ROLE_LISTS = {Role.MAINTAINER: "bk_biz_maintainer", Role.OPERATOR: "bk_biz_developer", Role.VIEWER: "bk_biz_tester"}


def get_business_in_scope(raw_id: Any, scope: Any = None) -> Business:
    """The business a path id names: a CMDB id (scope cmdb_biz, the default) or a project id (scope project)."""
    scope = scope or CMDB_BIZ
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be {CMDB_BIZ} or {PROJECT}, not {scope!r}")
    if scope == CMDB_BIZ:
        return get_business(raw_id)
    pk = parse_id(raw_id, "bk_biz_id")
    business = Business.objects.filter(pk=pk).first()
    if business is None:
        raise NotFound(f"project({pk}) with scope({scope}) does not exist.")
    return business


def project_actions(role: str | None) -> list[str]:
    rank = ROLE_RANK[Role(role)] if role else 0
    return [action for action, needed in PROJECT_ACTIONS.items() if rank >= ROLE_RANK[needed]]


def user_projects(user: User, *, include_executor_proxy: bool = False) -> list[dict[str, Any]]:
    """The businesses the user holds a role in (every business for a superuser), by bk_biz_id."""
    businesses = Business.objects.all() if user.is_superuser else \
        Business.objects.filter(members__user=user).distinct()
    out = []
    for business in businesses.order_by("bk_biz_id"):
        item: dict[str, Any] = {"project_id": business.pk, "bk_biz_id": business.bk_biz_id, "name": business.name}
        if include_executor_proxy:
            # sops has no executor proxies: the caller always executes as themself.
            item["executor_proxy"] = user.get_username()
        out.append(item)
    return out


def project_detail(user: User, business: Business, *, include_executor_proxy: bool = False,
                   include_staff_groups: bool = False) -> dict[str, Any]:
    """The business as get_user_project_detail shows it: ids, names, member lists, the user's actions."""
    members: dict[str, list[str]] = {name: [] for name in ROLE_LISTS.values()}
    for username, role in (BusinessMember.objects.filter(business=business).order_by("user__username")
                           .values_list("user__username", "role")):
        members[ROLE_LISTS[Role(role)]].append(username)
    data: dict[str, Any] = {
        "project_id": business.pk, "project_name": business.name, "from_cmdb": True,
        "bk_biz_id": business.bk_biz_id, "bk_biz_name": business.name,
        **{key: ",".join(names) for key, names in members.items()},
        "bk_biz_productor": "",
        "time_zone": business.time_zone,
        "auth_actions": project_actions(role_in(user, business)),
    }
    if include_executor_proxy:
        data["executor_proxy"] = user.get_username()
    if include_staff_groups:
        data["staff_groups"] = []  # sops has no staff groups
    return data
