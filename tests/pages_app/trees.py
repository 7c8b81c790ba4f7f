"""Trees for the page tests: the scenario an operator runs, a child for subprocesses, and a big one."""
from __future__ import annotations

from typing import Any

from tests.support.task_trees import TreeBuilder, activity, hook, plain


def child_timers() -> dict[str, Any]:
    """A subprocess body: two zero-second timers."""
    b = TreeBuilder()
    b.act(activity("t1", "sleep_timer", {"bk_timing": plain("0")}, name="child timer 1"))
    b.act(activity("t2", "sleep_timer", {"bk_timing": plain("0")}, name="child timer 2"))
    b.chain("start", "t1", "t2", "end")
    return b.build()


def scenario(child_template_id: int) -> dict[str, Any]:
    """start -> wait (${wait} s) -> parallel[ check (timer of ${check} s) | deploy (subprocess) ] -> converge
    -> route (exclusive on ${env}) -> notify (prod) | done (otherwise) -> converge -> end.

    With ${check} not a number the check node fails, so an operator retries it with a good value.
    """
    b = TreeBuilder()
    b.act(activity("wait", "sleep_timer", {"bk_timing": hook("wait")}, name="wait a moment"))
    b.act(activity("check", "sleep_timer", {"bk_timing": hook("check")}, name="health check"))
    b.act({"id": "deploy", "type": "SubProcess", "name": "deploy", "template_id": child_template_id,
           "incoming": "", "outgoing": "", "constants": {}})
    b.act(activity("notify", "var_assign", {"said": plain("prod done")}, name="notify prod"))
    b.act(activity("done", "noop", {}, name="done", optional=True))
    b.gateway("pg", "ParallelGateway", name="fan out").gateway("cg", "ConvergeGateway", name="join")
    b.gateway("route", "ExclusiveGateway", name="route").gateway("cg2", "ConvergeGateway", name="merge")
    b.chain("start", "wait", "pg", "check", "cg", "route", "notify", "cg2", "end")
    b.chain("pg", "deploy", "cg").chain("route", "done", "cg2")
    b.const("wait", "2", name="wait seconds")
    b.const("check", "0", name="check seconds")
    b.const("env", "dev", name="environment")
    tree = b.build()
    to_notify, to_done = tree["gateways"]["route"]["outgoing"]
    tree["gateways"]["route"]["conditions"] = {
        to_notify: {"evaluate": '${env} == "prod"', "name": "prod"},
        to_done: {"evaluate": '${env} != "prod"', "name": "not prod"},
    }
    return tree


def wide(blocks: int, width: int) -> dict[str, Any]:
    """`blocks` parallel blocks in a row, each of `width` noop activities: blocks * (width + 2) + 2 nodes."""
    b = TreeBuilder()
    prev = "start"
    for k in range(blocks):
        b.gateway(f"pg{k}", "ParallelGateway").gateway(f"cg{k}", "ConvergeGateway")
        b.chain(prev, f"pg{k}")
        for j in range(width):
            b.act(activity(f"a{k}_{j}", "noop", {"n": plain(str(j))}, name=f"step {k}.{j}"))
            b.chain(f"pg{k}", f"a{k}_{j}", f"cg{k}")
        prev = f"cg{k}"
    b.chain(prev, "end")
    return b.build()
