"""Fixtures of the page tests: two businesses, people with each role, and the scenario's templates.

Business 2 "blueking" (Asia/Shanghai): olivia operator, victor viewer. Business 1 "demo" (UTC):
mallory operator (no role in 2). root is a superuser. Every password is PASSWORD. Templates:
`child` (two timers), `scenario` (uses `child` as a subprocess), `other` in business 1, and a
common template.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import trees

PASSWORD = "pages-test-password"


@dataclass
class People:
    biz2: Any
    biz1: Any
    users: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, Any] = field(default_factory=dict)


def make_people() -> People:
    from django.contrib.auth import get_user_model

    from access_app.services import create_business, set_member_role
    from templates_app.services import create_template

    biz2 = create_business(bk_biz_id=2, name="blueking", time_zone="Asia/Shanghai")
    biz1 = create_business(bk_biz_id=1, name="demo", time_zone="UTC")
    people = People(biz2=biz2, biz1=biz1)
    user_model = get_user_model()
    for name in ("olivia", "victor", "mallory", "root"):
        user = user_model(username=name, is_superuser=name == "root", is_staff=name == "root")
        user.set_password(PASSWORD)
        user.save()
        people.users[name] = user
    set_member_role(business=biz2, user=people.users["olivia"], role="operator")
    set_member_role(business=biz2, user=people.users["victor"], role="viewer")
    set_member_role(business=biz1, user=people.users["mallory"], role="operator")
    child = create_template(name="deploy steps", pipeline_tree=trees.child_timers(), creator="olivia",
                            business=biz2, category="OpsTools")
    people.templates["child"] = child
    people.templates["scenario"] = create_template(
        name="release with checks", pipeline_tree=trees.scenario(child.pk), creator="olivia", business=biz2,
        category="OpsTools", description="Wait, check and deploy in parallel, then route on the environment.")
    people.templates["other"] = create_template(name="other business", pipeline_tree=trees.child_timers(),
                                                creator="mallory", business=biz1)
    people.templates["common"] = create_template(name="common timers", pipeline_tree=trees.child_timers(),
                                                 creator="root")
    return people


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Logins are part of nearly every test here; PBKDF2's deliberate slowness is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(db) -> People:
    return make_people()


@pytest.fixture
def live_people(transactional_db) -> Iterator[People]:
    from tests.support.task_world import flush_retrying

    yield make_people()
    flush_retrying()


# --- the browser --------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("SOPS_CHROMIUM", "/usr/bin/chromium")
# Flags that work on this machine and CI: no sandbox (root), no GPU, nothing fetched from outside.
# Playwright gives every launch a fresh temporary profile of its own (its launch() refuses
# --user-data-dir), so no state carries over between runs.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright, for one test module.

    Skips with the reason when Chromium or Playwright is missing, unless SOPS_BROWSER_TESTS=required
    (CI sets it) makes that a failure. Playwright's synchronous API keeps an event loop in this
    thread, which Django takes for an async context; the tests' own ORM reads are synchronous,
    so DJANGO_ALLOW_ASYNC_UNSAFE is set while the browser lives (this module only).
    """
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium chromium-driver)"
    if reason:
        if os.environ.get("SOPS_BROWSER_TESTS") == "required":
            pytest.fail(f"browser tests are required here: {reason}")
        pytest.skip(reason)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
