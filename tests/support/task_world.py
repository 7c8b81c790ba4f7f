"""The task world (`world`, `live_world`): a small world matching the spec's examples; a fake engine (`fake_engine`).

The world: business 2 (blueking) and 1 (demo); the spec's placeholder credentials
(app_code/app_secret + access_token) for "alice", operator in both; "victor", a viewer
of business 2 (token viewer_token); "olga", operator of business 1 only (token
olga_token); templates 10 (business 2) and 30 (business 1) are the spec's
sleep_timer -> pause_node example; 11 (business 2) has a parallel block with optional
nodes; 40 is a common template.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from . import task_trees as trees
from .sql import statements


@dataclass
class World:
    biz2: Any
    biz1: Any
    alice: Any
    victor: Any
    olga: Any
    templates: dict[int, Any] = field(default_factory=dict)
    app_code: str = "app_code"
    app_secret: str = "app_secret"

    def creds(self, token: str = "access_token") -> dict[str, str]:
        return {"app_code": self.app_code, "app_secret": self.app_secret, "access_token": token}


def make_template(pk: int, name: str, tree: dict, business=None):
    from templates_app.models import Template, TemplateSource
    from templates_app.services import record_version

    template = Template.objects.create(
        pk=pk, name=name, pipeline_tree=tree, creator="alice", business=business, category="OpsTools",
        source=TemplateSource.BUSINESS if business else TemplateSource.COMMON)
    record_version(template, editor="alice")
    return template


def make_world() -> World:
    from access_app.models import Business, Role
    from access_app.services import create_app, ensure_user, issue_ticket, set_member_role

    biz2 = Business.objects.create(bk_biz_id=2, name="blueking", time_zone="Asia/Shanghai")
    biz1 = Business.objects.create(bk_biz_id=1, name="demo", time_zone="UTC")
    app, _ = create_app(app_code="app_code", secret="app_secret")
    alice = ensure_user(username="alice")
    victor = ensure_user(username="victor")
    olga = ensure_user(username="olga")
    for biz in (biz2, biz1):
        set_member_role(business=biz, user=alice, role=Role.OPERATOR)
    set_member_role(business=biz2, user=victor, role=Role.VIEWER)
    set_member_role(business=biz1, user=olga, role=Role.OPERATOR)
    issue_ticket(user=alice, app=app, raw="access_token", expires_in=3600)
    issue_ticket(user=alice, kind="bk_token", raw="bk_token")
    issue_ticket(user=victor, app=app, raw="viewer_token", expires_in=3600)
    issue_ticket(user=olga, app=app, raw="olga_token", expires_in=3600)
    world = World(biz2=biz2, biz1=biz1, alice=alice, victor=victor, olga=olga)
    world.templates[10] = make_template(10, "timer then pause", trees.timer_then_pause("1"), biz2)
    world.templates[30] = make_template(30, "timer then pause", trees.timer_then_pause("1"), biz1)
    world.templates[11] = make_template(11, "parallel with optional nodes", trees.parallel_with_optional(), biz2)
    world.templates[40] = make_template(40, "common timer then pause", trees.timer_then_pause("0"))
    return world


@pytest.fixture
def world(db) -> World:
    return make_world()


def flush_retrying(attempts: int = 6) -> None:
    """Empty the test database, retrying while the worker still finishes a step of the test's runs.

    A live test may end while the worker writes (a run it started goes on); pytest-django's own
    flush then deadlocks with it on PostgreSQL (TRUNCATE takes every table's lock in turn) or finds
    SQLite's write lock held, and a failed flush leaves rows that break the next test's fixtures.
    Flushing first, with retries, leaves pytest-django's flush nothing to fight over: the runs are
    gone, so the worker's late messages find nothing to write.
    """
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import OperationalError

    for attempt in range(1, attempts + 1):
        try:
            call_command("flush", verbosity=0, interactive=False)
            return
        except (OperationalError, CommandError):
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)


@pytest.fixture
def live_world(transactional_db) -> Iterator[World]:
    yield make_world()
    flush_retrying()


class FakeEngine:
    """Stands in for pipeline_engine.api where a test is about our side only."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.fail_validation: str | None = None
        self.status_trees: dict[str, dict] = {}
        self.start_state = "RUNNING"
        self.callback_state = "RUNNING"

    def __getattr__(self, name: str):
        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return None
        return record

    def validate_pipeline(self, tree: dict) -> None:
        from pipeline_engine.errors import TreeInvalid

        self.calls.append(("validate_pipeline", (tree,), {}))
        if self.fail_validation:
            raise TreeInvalid(self.fail_validation)

    def start_pipeline(self, tree: dict, **kwargs: Any) -> Any:
        """A start whose first step ends in `start_state` (RUNNING: nothing ended yet)."""
        from pipeline_engine.api import Started

        self.calls.append(("start_pipeline", (tree,), kwargs))
        ended = self.start_state != "RUNNING"
        return Started(kwargs["run_id"], self.start_state,
                       dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=dt.UTC) if ended else None)

    def callback_along(self, run_id: str, node_id: str, data: Any, version: str | None = None, *,
                       along: Any) -> Any:
        """A callback whose step leaves the run in `callback_state` (RUNNING: nothing ended yet) and
        sends the caller's writes, as the engine's step does with its own. The end is the engine's
        to record (its run_ending and run_finished receivers), so this records none."""
        from pipeline_engine.api import Stepped

        self.calls.append(("callback_along", (run_id, node_id, data), {"version": version}))
        along.send()
        ended = self.callback_state != "RUNNING"
        return Stepped(self.callback_state, dt.datetime(2024, 1, 1, 0, 0, 2, tzinfo=dt.UTC) if ended else None)

    def get_status_tree(self, run_id: str) -> dict:
        return self.status_trees[run_id]

    def get_status_trees(self, run_ids: list[str]) -> dict:
        self.calls.append(("get_status_trees", (run_ids,), {}))
        return {r: self.status_trees[r] for r in run_ids if r in self.status_trees}

    def get_run_summaries(self, run_ids: list[str]) -> dict:
        """Summaries made from the status trees the test set (state, times, no outputs)."""
        from pipeline_engine.api import RunSummary

        self.calls.append(("get_run_summaries", (run_ids,), {}))
        return {r: RunSummary(run_id=r, state=t["state"], start_time=t.get("start_time"),
                              finish_time=t.get("finish_time"), elapsed_time=t.get("elapsed_time", 0))
                for r, t in self.status_trees.items() if r in run_ids}

    def get_run_summary(self, run_id: str) -> Any:
        return self.get_run_summaries([run_id]).get(run_id)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
def fake_engine(monkeypatch) -> FakeEngine:
    from tasks_app import selectors, services

    engine = FakeEngine()
    monkeypatch.setattr(services, "_engine", lambda: engine)
    monkeypatch.setattr(selectors, "_engine", lambda: engine)
    return engine


def create_task(world: World, template_pk: int = 10, **kw: Any) -> Any:
    """A task of the world made by alice through the service (the engine is whatever the test set up)."""
    from tasks_app import services

    template = world.templates[template_pk]
    business = template.business or world.biz2
    return services.create_task(business=business, template=template, name=kw.pop("name", "t"), creator="alice",
                                app_code="app_code", **kw)


def ended_run(task: Any, state: str = "FINISHED", at: dt.datetime | None = None) -> dict[str, Any]:
    """A root status tree saying the task's run ended (for FakeEngine.status_trees)."""
    at = at or dt.datetime(2024, 1, 1, 0, 0, 5, tzinfo=dt.UTC)
    return {"id": task.run_id, "state": state, "name": "", "retry": 0, "skip": False, "loop": 1, "version": "",
            "error_ignorable": False, "start_time": at - dt.timedelta(seconds=5), "finish_time": at,
            "elapsed_time": 5, "children": {}}


def writes(queries: Any) -> list[str]:
    """The statements among captured queries that change data."""
    return [s for s in statements(queries) if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE"))]
