"""The expansion budget through the API: create_task, create_and_start_task, preview_task_tree and
create_periodic_task refuse a template that fans out or nests past it with 3540000 naming the template
and the count (each referenced template counted once, nothing copied), quickly, and never answer 3599999 (a RecursionError) for a deeply nested one.

The templates are stored as they are (no validation), as rows saved before the budget existed, or
through a path that skipped it, would be.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from tests.support.task_trees import fan_out, inline_nest
from tests.support.task_world import make_template

pytestmark = pytest.mark.django_db

CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
INVALID = 3540000


def post(client: Any, path: str, body: dict | None = None) -> dict[str, Any]:
    response = client.post(f"/apigw/{path}", json.dumps({**CREDS, **(body or {})}), content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def every_entry(client: Any, template_id: int) -> dict[str, dict[str, Any]]:
    return {
        "create_task": post(client, f"create_task/{template_id}/2/", {"name": "t"}),
        "create_and_start_task": post(client, f"create_and_start_task/{template_id}/2/", {"name": "t"}),
        "preview_task_tree": post(client, f"preview_task_tree/2/{template_id}/", {"exclude_task_nodes_id": []}),
        "create_periodic_task": post(client, f"create_periodic_task/{template_id}/2/",
                                     {"name": "p", "cron": {"minute": "5"}}),
    }


@pytest.fixture(autouse=True)
def maintainer(world: Any) -> None:
    """alice may create periodic tasks too (maintainer of business 2)."""
    from access_app.models import Role
    from access_app.services import set_member_role

    set_member_role(business=world.biz2, user=world.alice, role=Role.MAINTAINER)


@pytest.fixture
def fan_templates(world: Any) -> dict[int, Any]:
    """The issue's case: template 104 holds 10 SubProcess nodes naming 103, which holds 10 naming 102,
    ... down to the leaf 100 (start, noop, end): 10,000 leaf copies, about 43,000 nodes unfolded."""
    made = {100: make_template(100, "leaf", inline_nest(0), world.biz2)}
    for n in range(101, 105):
        made[n] = make_template(n, f"fan {n}", fan_out(n - 1, 10), world.biz2)
    return made


def test_a_template_that_fans_out_past_the_budget_is_refused_at_every_entry(client, fan_templates):
    from periodic_app.models import PeriodicTask
    from tasks_app.models import TaskInstance

    t0 = time.perf_counter()
    answers = every_entry(client, 104)
    elapsed = time.perf_counter() - t0
    for entry, answer in answers.items():
        assert answer["result"] is False and answer["code"] == INVALID, (entry, answer)
        assert answer["message"] == ("template[id=104, name=fan 104] has 43332 nodes once its subprocesses are "
                                     "unfolded, more than 20000 (the limit is SOPS_MAX_EXPANDED_NODES)"), entry
    # Before the budget one create_task took 6 s and answered 18 MB; each template is now counted
    # once, without copying anything.
    assert elapsed < 4, elapsed
    assert not TaskInstance.objects.exists() and not PeriodicTask.objects.exists()
    print(f"\nfour refusals of a 43,000-node template took {elapsed:.2f} s")


def test_one_level_less_fits_the_default_budget(client, fan_templates):
    answer = post(client, "create_task/103/2/", {"name": "t"})
    assert answer["result"] is True, answer["message"]


def test_the_budget_is_a_setting(client, fan_templates, settings):
    settings.SOPS_MAX_EXPANDED_NODES = 100
    answer = post(client, "create_task/102/2/", {"name": "t"})
    assert answer["code"] == INVALID and "has 432 nodes once its subprocesses are unfolded, more than 100" \
        in answer["message"], answer


@pytest.mark.parametrize("depth", [9, 100])
def test_a_deeply_nested_template_is_refused_at_every_entry_never_with_3599999(client, world, depth):
    """100 inline levels made create_task recurse past the interpreter's limit (deepcopy, id renewal)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))  # the row is stored as it is: the test's own writer
    try:
        make_template(120, "deep", inline_nest(depth), world.biz2)
    finally:
        sys.setrecursionlimit(limit)
    for entry, answer in every_entry(client, 120).items():
        assert answer["result"] is False and answer["code"] == INVALID, (entry, answer)
        assert answer["message"].startswith("template[id=120, name=deep] nests subprocesses 9 levels deep at "
                                            "subprocess node["), (entry, answer["message"])
