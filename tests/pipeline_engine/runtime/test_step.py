"""Starting runs and stepping them under the run's lock (runtime/step.py)."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from pipeline_engine import api
from pipeline_engine.core import operations
from pipeline_engine.errors import InvalidOperation
from pipeline_engine.runtime.models import Run
from pipeline_engine.runtime.step import step
from tests.pipeline_engine import runs
from tests.pipeline_engine.trees import TreeBuilder, failing, linear, parallel, waiting_tree


@pytest.mark.django_db
def test_an_operation_leaving_tokens_owes_an_advance_and_a_refused_one_writes_nothing():
    run_id = api.run_pipeline(failing())
    step(run_id, lambda w: None)  # the first advance, walked here
    run = Run.objects.get(pk=run_id)
    assert run.display_state == "FAILED" and run.lease_until is None and run.steps == 1
    with pytest.raises(InvalidOperation):
        step(run_id, operations.resume, walk=False)
    assert Run.objects.get(pk=run_id).steps == 1  # the refused step rolled back
    step(run_id, lambda w: operations.retry(w, "f"), walk=False)
    run.refresh_from_db()
    assert run.frontier["ready"] == [["f", "retry"]] and run.lease_until is not None  # owed
    step(run_id, lambda w: None)
    run.refresh_from_db()
    assert run.frontier["ready"] == [] and run.lease_until is None and run.steps == 3




def _sent(monkeypatch) -> list[tuple]:
    """What the start sends after commit (advance and component messages), instead of sending it."""
    from pipeline_engine.runtime import dispatch

    sent: list[tuple] = []
    monkeypatch.setattr(dispatch, "send_advance", lambda run_id, **kw: sent.append(("advance", run_id)))
    monkeypatch.setattr(dispatch, "send_component",
                        lambda run_id, key, *a, **kw: sent.append(("component", run_id, key)))
    return sent


@pytest.mark.django_db
def test_a_start_walks_its_inline_nodes_before_the_callers_commit(monkeypatch, django_capture_on_commit_callbacks):
    from pipeline_engine import signals
    from pipeline_engine.runtime.models import NodeState

    sent = _sent(monkeypatch)
    ends: list[str] = []

    def on_end(sender=None, *, run_id, state, **_):
        ends.append(state)

    signals.run_finished.connect(on_end, dispatch_uid="test_step.on_end")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                run_id = api.run_pipeline(linear(3))
                assert ends == []  # nothing is told before the caller's commit
    finally:
        signals.run_finished.disconnect(dispatch_uid="test_step.on_end")
    run = Run.objects.get(pk=run_id)
    assert (run.state, run.display_state, run.steps, run.lease_until) == ("FINISHED", "FINISHED", 1, None)
    assert run.finished_at is not None and run.frontier["ready"] == []
    assert sorted(NodeState.objects.filter(run_id=run_id).values_list("node_id", "state")) == [
        ("end", "FINISHED"), ("n0", "FINISHED"), ("n1", "FINISHED"), ("n2", "FINISHED"), ("start", "FINISHED")]
    assert sent == [] and ends == ["FINISHED"]  # no worker was needed


@pytest.mark.django_db
def test_what_a_start_walk_runs_inline_keeps_its_log(monkeypatch, django_capture_on_commit_callbacks):
    from tests.pipeline_engine.components_for_tests import inline_logger

    _sent(monkeypatch)
    with inline_logger("testing_step_chatty") as code, django_capture_on_commit_callbacks(execute=True):
        run_id = api.run_pipeline(linear(2, code))
    assert Run.objects.get(pk=run_id).state == "FINISHED"  # walked here, by the start
    for node_id in ("n0", "n1"):
        (attempt,) = api.get_node_logs(run_id, node_id)
        assert [line[2] for line in attempt["lines"]] == [f"ran {node_id}"] and not attempt["truncated"]
    assert api.get_node_logs(run_id, "start") == []  # an event logs nothing


@pytest.mark.django_db
def test_a_start_hands_a_slow_component_to_the_workers_at_once(monkeypatch, django_capture_on_commit_callbacks):
    sent = _sent(monkeypatch)
    b = TreeBuilder()
    b.act("a", "noop")
    b.act("slow", "bench_poll")
    b.chain(b.start_id, "a", "slow", b.end_id)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = api.run_pipeline(b.build())
    assert sent == [("component", run_id, "slow")]  # no advance message in between
    run = Run.objects.get(pk=run_id)
    assert run.state == "RUNNING" and run.lease_until is None and run.frontier["active"]["slow"]["s"] == "RUNNING"
    assert runs.node(run_id, "a").state == "FINISHED"


@pytest.mark.django_db
def test_a_start_out_of_budget_leaves_the_rest_to_an_owed_advance(monkeypatch, settings,
                                                                  django_capture_on_commit_callbacks):
    settings.SOPS_ENGINE_START_WALK_MS = 1e-9  # spent at the first look (after 8 tokens)
    sent = _sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = api.run_pipeline(linear(20))
    run = Run.objects.get(pk=run_id)
    assert run.state == "RUNNING" and run.lease_until is not None and run.steps == 1
    assert len(run.frontier["ready"]) == 1  # the token it did not enter yet
    assert sent == [("advance", run_id)]
    step(run_id, lambda w: None)  # the worker's advance carries on
    run.refresh_from_db()
    assert run.state == "FINISHED" and run.lease_until is None


@pytest.mark.django_db
def test_a_start_with_no_budget_walks_nothing(monkeypatch, settings, django_capture_on_commit_callbacks):
    settings.SOPS_ENGINE_START_WALK_MS = 0
    sent = _sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = api.run_pipeline(linear(2))
    run = Run.objects.get(pk=run_id)
    assert run.steps == 0 and run.lease_until is not None and run.frontier["ready"] == [["start", "enter"]]
    assert sent == [("advance", run_id)]


def _pause_then(noops: int) -> dict:
    b = TreeBuilder()
    b.act("p", "pause_node")
    names = [f"n{i}" for i in range(noops)]
    for name in names:
        b.act(name, "noop")
    b.chain(b.start_id, "p", *names, b.end_id)
    return b.build()


@pytest.mark.django_db
def test_a_callback_to_an_inline_node_finishes_the_run_in_the_callers_step(monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    from pipeline_engine.runtime.models import NodeState

    sent = _sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = api.run_pipeline(_pause_then(3))
    assert runs.node(run_id, "p").phase == "callback" and sent == []  # pause_node waits, no worker involved
    with django_capture_on_commit_callbacks(execute=True):
        api.callback(run_id, "p", {"k": "v"})
    run = Run.objects.get(pk=run_id)
    assert (run.state, run.steps, run.lease_until, sent) == ("FINISHED", 2, None, [])
    assert set(NodeState.objects.filter(run_id=run_id).values_list("state", flat=True)) == {"FINISHED"}
    assert runs.node(run_id, "p").outputs["callback_data"] == {"k": "v"}


@pytest.mark.django_db
def test_a_callback_out_of_budget_leaves_the_rest_to_an_owed_advance(monkeypatch, settings,
                                                                     django_capture_on_commit_callbacks):
    sent = _sent(monkeypatch)
    run_id = api.run_pipeline(_pause_then(20))
    settings.SOPS_ENGINE_START_WALK_MS = 1e-9  # spent at the first look (after 8 tokens)
    with django_capture_on_commit_callbacks(execute=True):
        api.callback(run_id, "p", 1)
    run = Run.objects.get(pk=run_id)
    assert run.state == "RUNNING" and run.lease_until is not None and len(run.frontier["ready"]) == 1
    assert runs.node(run_id, "p").state == "FINISHED" and sent == [("advance", run_id)]
    step(run_id, lambda w: None)  # the worker's advance carries on
    run.refresh_from_db()
    assert run.state == "FINISHED" and run.lease_until is None


@pytest.mark.django_db
def test_a_callback_with_no_budget_leaves_the_schedule_call_to_a_worker(monkeypatch, settings,
                                                                       django_capture_on_commit_callbacks):
    sent = _sent(monkeypatch)
    run_id = api.run_pipeline(_pause_then(1))
    settings.SOPS_ENGINE_START_WALK_MS = 0
    with django_capture_on_commit_callbacks(execute=True):
        api.callback(run_id, "p", 1)
    p = runs.node(run_id, "p")
    assert (p.state, p.callback_status, sent) == ("RUNNING", "queued", [("component", run_id, "p")])
    assert Run.objects.get(pk=run_id).state == "RUNNING"


@pytest.mark.worker
def test_run_pipeline_leaves_the_callers_tree_alone_and_refuses_a_repeated_id(transactional_db,
                                                                               celery_worker_proc):
    import copy

    tree = parallel(2)
    tree["constants"]["${nested}"] = {"key": "${nested}", "value": {"a": [1]}, "source_type": "custom"}
    for gw in tree["gateways"].values():
        gw.pop("converge_gateway_id", None)
    before = copy.deepcopy(tree)
    run_id = api.run_pipeline(tree, run_id="fixed-run-id")
    assert tree == before  # not filled in, not copied into
    tree["constants"]["${nested}"]["value"]["a"].append(2)  # a later change of the caller's dict
    stored = Run.objects.get(pk=run_id)
    assert stored.tree["gateways"]["pg"]["converge_gateway_id"] == "cg"
    assert stored.context[""]["values"]["nested"] == {"a": [1]}
    from pipeline_engine.runtime import tree_cache

    assert tree_cache.compiled_tree(run_id).root.constants["nested"] == {"a": [1]}  # the cached copy too
    with pytest.raises(InvalidOperation, match="already been started"):
        api.run_pipeline(before, run_id="fixed-run-id")
    runs.wait_state(run_id, "FINISHED")
    assert Run.objects.filter(pk=run_id).count() == 1


@pytest.mark.worker
def test_no_callback_lost_under_lock_contention(transactional_db, celery_worker_proc):
    """bamboo-engine PRs #262/#263: a callback lost to lock contention."""
    run_id = api.run_pipeline(waiting_tree())
    runs.wait_node(run_id, "p", "RUNNING", "callback")
    results: dict[int, str] = {}
    release = threading.Event()
    locked = threading.Event()

    def hold_lock():
        with transaction.atomic():
            Run.objects.select_for_update().get(pk=run_id)  # what a walker step holds
            locked.set()
            release.wait(10)
        connection.close()

    def send(i: int):
        try:
            api.callback(run_id, "p", {"from": i})
            results[i] = "ok"
        except InvalidOperation as exc:
            results[i] = exc.message
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    senders = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in senders:
        thread.start()
    time.sleep(0.5)
    release.set()
    for thread in [holder, *senders]:
        thread.join(30)
    winners = [i for i, r in results.items() if r == "ok"]
    assert len(results) == 8 and len(winners) == 1, results
    # Each loser is refused clearly: while the node still waits, as a repeat; once
    # the winner's callback has finished the node (SQLite serialises the senders
    # slowly enough for that), as "not waiting" / "finished".
    refusals = ("already received", "not waiting for a callback", "this node is finished")
    assert all(any(m in r for m in refusals) for i, r in results.items() if i not in winners), results
    runs.wait_state(run_id, "FINISHED")
    assert api.get_run_summary(run_id).outputs == {"${cb}": {"from": winners[0]}}


@pytest.fixture
def validations(monkeypatch):
    """Every validation made, as (tree, filled in place): the starts' own fill nothing."""
    from pipeline_engine.runtime import step as step_module

    made = []
    original = step_module.validate_tree

    def counted(tree, **kw):
        made.append((tree, kw.get("fill_converges", True)))
        return original(tree, **kw)

    monkeypatch.setattr(step_module, "validate_tree", counted)
    monkeypatch.setattr(step_module, "_validated", step_module.BoundedCache(
        "validated trees (test)", max_entries=256, max_bytes=10**8))
    return made


def _fork_ids(tree):
    return {gid: g.get("converge_gateway_id") for gid, g in tree["gateways"].items()
            if g["type"] == "ParallelGateway"}


@pytest.mark.django_db
def test_a_tree_validated_before_its_start_is_not_validated_again(validations):
    tree = parallel(2)
    api.validate_pipeline(tree)  # fills the converge gateway's id, as callers expect
    assert len(validations) == 1 and all(_fork_ids(tree).values())
    run_id = api.start_pipeline(tree).run_id
    assert len(validations) == 1
    stored = Run.objects.get(pk=run_id).tree
    assert stored == tree and all(_fork_ids(stored).values())
    assert Run.objects.get(pk=run_id).state == "FINISHED"
    import copy

    api.start_pipeline(copy.deepcopy(tree))  # the same text: validated already
    api.start_pipeline(tree)
    assert len(validations) == 1


@pytest.mark.django_db
def test_a_tree_without_converge_ids_is_filled_the_same_whether_validated_now_or_before(validations):
    import copy

    bare = parallel(2)
    for gateway in bare["gateways"].values():
        gateway.pop("converge_gateway_id", None)
    first, second = copy.deepcopy(bare), copy.deepcopy(bare)
    api.validate_pipeline(first)
    api.validate_pipeline(second)  # its text was validated: filled from what was kept
    assert len(validations) == 1
    assert _fork_ids(second) == _fork_ids(first) and all(_fork_ids(first).values())
    run_id = api.start_pipeline(copy.deepcopy(bare)).run_id  # the start fills a copy, not the caller's tree
    assert len(validations) == 1
    assert Run.objects.get(pk=run_id).tree == first


@pytest.mark.django_db
def test_a_changed_tree_is_validated_at_its_start_and_an_invalid_one_is_never_kept(validations):
    tree = linear(2)
    api.validate_pipeline(tree)
    tree["activities"]["n1"]["name"] = "renamed"  # changed since: the start sees the change
    run_id = api.start_pipeline(tree).run_id
    assert len(validations) == 2 and validations[1][1] is False
    assert Run.objects.get(pk=run_id).tree["activities"]["n1"]["name"] == "renamed"

    broken = linear(2)
    broken["flows"].clear()
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017, PT011 - TreeInvalid, each time: a failure is not kept
            api.validate_pipeline(broken)
        with pytest.raises(Exception):  # noqa: B017, PT011
            api.start_pipeline(broken)
    assert len(validations) == 6


@pytest.mark.django_db
def test_a_tree_is_validated_again_once_a_component_it_names_is_unregistered(validations):
    from pipeline_engine.core.components import Component, Outcome, register, unregister

    class Gone(Component):
        code = "test_gone_soon"
        inline = True

        def execute(self, ctx):
            return Outcome.success()

    register(Gone)
    tree = linear(1, code="test_gone_soon")
    try:
        api.validate_pipeline(tree)
    finally:
        unregister("test_gone_soon")
    with pytest.raises(Exception, match="not registered"):
        api.start_pipeline(tree)
    assert len(validations) == 2


@pytest.mark.django_db
def test_a_kept_validation_does_not_see_later_changes_to_the_dict_validated(validations):
    """The compiled form kept is shared by later starts of the same text: it holds its own copies
    of the tree's nested values, not the caller's."""
    import copy

    tree = linear(1, data={"items": [1, 2]})
    original = copy.deepcopy(tree)
    api.validate_pipeline(tree)
    tree["activities"]["n0"]["component"]["data"]["items"]["value"].append(3)  # the caller's dict, changed in place
    run_id = api.start_pipeline(original).run_id  # the text validated: the kept compiled form is used
    assert len(validations) == 1
    assert runs.node(run_id, "n0").inputs["items"] == [1, 2]
