"""The periodic world (`pt_world`): the spec's world for periodic tasks (app, users, business 2, the example template)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .periodic_examples import example_tree, quick_tree


@dataclass
class World:
    app_code: str
    app_secret: str
    business: Any
    template: Any
    quick_template: Any
    maintainer: Any
    viewer: Any
    tokens: dict[str, str]

    def creds(self, who: str = "maintainer") -> dict[str, str]:
        return {"app_code": self.app_code, "app_secret": self.app_secret, "access_token": self.tokens[who]}


def make_ticket(user: Any, raw: str) -> None:
    from access_app.hashing import token_digest
    from access_app.models import UserTicket

    UserTicket.objects.create(user=user, kind=UserTicket.ACCESS_TOKEN, digest=token_digest(raw), hint=raw[:6])


@pytest.fixture
def pt_world() -> World:
    """App `app_code`/`app_secret`, `admin` (maintainer, token `access_token`, as the spec's examples),
    `watcher` (viewer, token `viewer_token`), business 2 in Asia/Tokyo (the examples' +0900), and the
    examples' template. Needs the test to request a database (db or transactional_db)."""
    from django.contrib.auth import get_user_model

    from access_app.models import App, Business, BusinessMember, Role
    from templates_app.models import Template

    app = App(app_code="app_code", name="spec examples")
    app.set_secret("app_secret")
    app.save()
    User = get_user_model()
    admin = User.objects.create_user(username="admin")
    watcher = User.objects.create_user(username="watcher")
    business = Business.objects.create(bk_biz_id=2, name="biz 2", time_zone="Asia/Tokyo")
    BusinessMember.objects.create(business=business, user=admin, role=Role.MAINTAINER)
    BusinessMember.objects.create(business=business, user=watcher, role=Role.VIEWER)
    make_ticket(admin, "access_token")
    make_ticket(watcher, "viewer_token")
    template = Template.objects.create(business=business, name="spec template", creator="admin",
                                       pipeline_tree=example_tree())
    quick = Template.objects.create(business=business, name="quick", creator="admin", pipeline_tree=quick_tree())
    return World("app_code", "app_secret", business, template, quick, admin, watcher,
                 {"maintainer": "access_token", "viewer": "viewer_token"})


