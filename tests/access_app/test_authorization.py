"""Roles: viewer < operator < maintainer; superusers are maintainers of every business."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from access_app.authorization import authorize, role_in
from access_app.models import Business, Role
from sops_common.errors import Forbidden

pytestmark = pytest.mark.django_db


def user(name):
    return get_user_model().objects.get(username=name)


def test_role_in_a_business(gate):
    other = Business.objects.get(bk_biz_id=7)
    assert role_in(user("vera"), gate.biz) == Role.VIEWER
    assert role_in(user("max"), gate.biz) == Role.MAINTAINER
    assert role_in(user("vera"), other) is None
    assert role_in(user("root"), other) == Role.MAINTAINER


@pytest.mark.parametrize(("name", "required", "allowed"), [
    ("vera", Role.VIEWER, True), ("vera", Role.OPERATOR, False),
    ("olivia", Role.OPERATOR, True), ("olivia", Role.MAINTAINER, False),
    ("max", Role.MAINTAINER, True), ("root", Role.MAINTAINER, True), ("otto", Role.VIEWER, False),
])
def test_authorize_follows_the_ladder(gate, name, required, allowed):
    if allowed:
        assert authorize(user(name), gate.biz, required) in Role.values
    else:
        with pytest.raises(Forbidden, match=rf"user\[username={name}\]"):
            authorize(user(name), gate.biz, required)


def test_the_refusals_name_the_role_or_the_missing_membership(gate):
    with pytest.raises(Forbidden) as low:
        authorize(user("vera"), gate.biz, Role.OPERATOR)
    assert low.value.message == ("user[username=vera] is viewer of business[bk_biz_id=2]; "
                                 "this operation needs the operator role")
    with pytest.raises(Forbidden) as outside:
        authorize(user("otto"), gate.biz, Role.VIEWER)
    assert outside.value.message == "user[username=otto] does not have perm of business:[bk_biz_id=2]"
