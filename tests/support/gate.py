"""Calling the API as somebody: an app, users with roles and tickets (`gate`), small templates (`templates`).

Templates here are stored without the engine's component check (`validate=False`)
unless a test is about validation: these tests are about the gateway, not plugins.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

SECRET = "s3cret-value"


@dataclass
class Gate:
    """What a test needs to call the API as somebody."""

    biz: Any
    app_code: str = "test-app"
    app_secret: str = SECRET
    tokens: dict[str, str] = field(default_factory=dict)  # username -> access_token of test-app

    def creds(self, username: str = "olivia", **extra: Any) -> dict[str, Any]:
        return {"app_code": self.app_code, "app_secret": self.app_secret,
                "access_token": self.tokens[username], **extra}


def simple_tree(prefix: str = "n") -> dict[str, Any]:
    """start -> one pause_node -> end, with one constant; ids distinct per prefix."""
    start, act, end = f"{prefix}start", f"{prefix}act", f"{prefix}end"
    f1, f2 = f"{prefix}f1", f"{prefix}f2"
    return {
        "start_event": {"id": start, "type": "EmptyStartEvent", "name": "", "incoming": "", "outgoing": f1},
        "end_event": {"id": end, "type": "EmptyEndEvent", "name": "", "incoming": f2, "outgoing": ""},
        "activities": {act: {"id": act, "type": "ServiceActivity", "name": "暂停", "incoming": f1,
                             "outgoing": f2, "optional": False, "error_ignorable": False,
                             "component": {"code": "pause_node", "data": {}}, "loop": {}}},
        "gateways": {},
        "flows": {f1: {"id": f1, "source": start, "target": act, "is_default": False},
                  f2: {"id": f2, "source": act, "target": end, "is_default": False}},
        "constants": {"${x}": {"key": "${x}", "name": "x", "value": "1", "index": 0, "desc": "",
                               "source_type": "custom", "custom_type": "input", "source_tag": "",
                               "source_info": {}, "show_type": "show"}},
        "outputs": [],
        "line": [{"id": f1, "source": {"id": start}, "target": {"id": act}}],
        "location": [{"id": act, "x": 1, "y": 2, "type": "tasknode"}],
    }


def broken_tree() -> dict[str, Any]:
    """A flow that points at a node that does not exist."""
    tree = simple_tree("b")
    tree["flows"]["bf2"]["target"] = "nowhere"
    return tree


@pytest.fixture
def gate(db) -> Gate:
    from access_app.models import Business, Role
    from access_app.services import create_app, ensure_user, issue_ticket, set_member_role

    biz = Business.objects.create(bk_biz_id=2, name="blueking", time_zone="Asia/Shanghai")
    Business.objects.create(bk_biz_id=7, name="elsewhere", time_zone="UTC")
    app, _ = create_app(app_code="test-app", secret=SECRET)
    gate = Gate(biz=biz)
    for username, role in (("vera", Role.VIEWER), ("olivia", Role.OPERATOR), ("max", Role.MAINTAINER)):
        user = ensure_user(username=username)
        set_member_role(business=biz, user=user, role=role)
        gate.tokens[username] = issue_ticket(user=user, app=app, expires_in=3600)[1]
    outsider = ensure_user(username="otto")
    gate.tokens["otto"] = issue_ticket(user=outsider, app=app)[1]
    root = ensure_user(username="root", superuser=True)
    gate.tokens["root"] = issue_ticket(user=root, app=app)[1]
    return gate


@pytest.fixture
def templates(gate: Gate) -> dict[str, Any]:
    """Two business templates of business 2, one of business 7, one common, one deleted."""
    from access_app.models import Business
    from templates_app.models import Template
    from templates_app.services import create_template

    made = {
        "first": create_template(name="first", pipeline_tree=simple_tree("a"), creator="alice",
                                 business=gate.biz, category="OpsTools", validate=False),
        "second": create_template(name="second", pipeline_tree=simple_tree("c"), creator="bob",
                                  business=gate.biz, validate=False),
        "other_biz": create_template(name="other", pipeline_tree=simple_tree("d"), creator="carl",
                                     business=Business.objects.get(bk_biz_id=7), validate=False),
        "common": create_template(name="shared", pipeline_tree=simple_tree("e"), creator="dora",
                                  validate=False),
        "deleted": create_template(name="gone", pipeline_tree=simple_tree("g"), creator="eve",
                                   business=gate.biz, validate=False),
    }
    Template.objects.filter(pk=made["deleted"].pk).update(is_deleted=True)
    # Fixed instants, so rendered times can be asserted exactly.
    Template.objects.filter(pk=made["first"].pk).update(
        create_time=dt.datetime(2018, 4, 23, 9, 26, 40, tzinfo=dt.UTC),
        edit_time=dt.datetime(2018, 4, 23, 9, 30, 48, tzinfo=dt.UTC), editor="admin")
    for t in made.values():
        t.refresh_from_db()
    return made


def call(client: Any, params: dict[str, Any], url: str = "/apigw/get_template_list/2/") -> dict[str, Any]:
    """GET `url` with `params` through the test client; the envelope, after checking it is HTTP 200."""
    response = client.get(url, params)
    assert response.status_code == 200
    return response.json()


def assert_forbidden(body: dict[str, Any], fragment: str) -> None:
    """The envelope refuses with 3540100 and a message containing `fragment`."""
    assert body["result"] is False, body
    assert body["code"] == 3540100
    assert body["data"] is None
    assert fragment in body["message"], body["message"]
