"""Every change to a run: its start, and each step under its row lock.

`step(run_id, apply)` is the only way the engine changes a started run:

1. lock the run row (`SELECT ... FOR UPDATE`; on SQLite the IMMEDIATE
   transaction is the lock), without its big tree column;
2. get the compiled tree from the per-process cache (loaded once per run);
3. let `apply` change the walker (an operation or a worker's report), then
   walk as far as possible;
4. write the diff in bulk: new node rows, changed node rows, history rows,
   one run-row update;
5. after commit, hand the walker's effects to dispatch.
"""
from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db import transaction
from django.utils import timezone

from pipeline_engine.core import jsontext
from pipeline_engine.core import states as s
from pipeline_engine.core.bounded_cache import BoundedCache
from pipeline_engine.core.components.registry import generation as components_generation
from pipeline_engine.core.records import Effect, NodeRecord, RunData
from pipeline_engine.core.tree import CompiledTree
from pipeline_engine.core.validation import fill_converge_ids, missing_converge_ids, validate_tree
from pipeline_engine.core.walker import Walker, start_context, start_frontier
from pipeline_engine.errors import InvalidOperation
from pipeline_engine.signals import run_ending

from . import config, dispatch, metrics, rows, tree_cache
from .models import Run

if TYPE_CHECKING:
    from .prepared import Writes

T = TypeVar("T")
logger = logging.getLogger("pipeline_engine")


@dataclass(frozen=True)
class Started:
    """A run just started, as its first step left it."""

    run_id: str
    state: str  # RUNNING, or the end the first step reached (FINISHED, FAILED with nothing left to do)
    finished_at: datetime | None


# --------------------------------------------------------------------------- trees validated before
# Validation is a pure function of a tree's text. Most runs start from a tree this process has
# seen: create_and_start_task (and a periodic firing) validates the task's tree when it builds it
# and starts it a moment later; start_task starts a tree its create validated; a template's
# tasks share one tree until their constants differ. So a tree validated once is kept, by its
# JSON text, with its compiled form and the text of its converge-filled form, and a start whose
# tree has that text compiles and validates nothing. Compiling and validating a 10-node tree is
# ~7 % of a start_task. The key is the text, which the start writes anyway, and the component
# registry's generation (validation checks each node's component is registered), so a changed
# tree, or any tree once a component was unregistered, is validated again. The compiled form is
# shared by the runs started from it: nothing changes a compiled tree after its `detach`, as the
# per-run cache (tree_cache) already relies on.
_validated: BoundedCache[tuple[CompiledTree, str]] = BoundedCache(  # by (registry generation, text)
    "validated trees", max_entries=256, max_bytes=lambda: config.tree_cache_bytes() // 4)


def _keep_validated(texts: set[str], compiled: CompiledTree, filled_text: str) -> tuple[CompiledTree, str]:
    """Keep `compiled` (of `filled_text`) for each of `texts`, the tree's text before and after
    its converge ids were filled."""
    compiled.detach()  # later changes to the caller's dict must not reach the shared compiled form
    for text in texts:
        size = tree_cache.weight(filled_text) + len(text) + (len(filled_text) if filled_text is not text else 0)
        _validated.put(_key(text), (compiled, filled_text), size=size)
    return compiled, filled_text


def _key(text: str) -> tuple[int, str]:
    return components_generation(), text


def validate_for_start(tree: dict[str, Any]) -> None:
    """Raise TreeInvalid, or fill `tree`'s converge gateway ids in place and keep the result for
    its start; a tree of a text validated before is not validated again."""
    key = _key(jsontext.dumps(tree))
    kept = _validated.get(key)
    if kept is not None:
        compiled, filled_text = kept
        if filled_text != key[1]:
            fill_converge_ids(tree, compiled)  # as validate_tree would have
        return
    compiled = validate_tree(tree)
    filled_text = jsontext.dumps(tree)
    _keep_validated({key[1], filled_text}, compiled, filled_text)


def _validated_tree(tree: dict[str, Any]) -> tuple[CompiledTree, str]:
    """(compiled form, JSON text to store) of a start's `tree`: kept from an earlier validation of
    the same text, or validated now (the caller's tree is not changed: converge ids missing from it
    are filled in a copy). Raises TreeInvalid."""
    key = _key(jsontext.dumps(tree))
    kept = _validated.get(key)
    if kept is not None:
        return cast(tuple[CompiledTree, str], kept)
    compiled = validate_tree(tree, fill_converges=False)
    filled_text = key[1]
    if missing_converge_ids(tree, compiled):
        tree = copy.deepcopy(tree)
        fill_converge_ids(tree, compiled)
        filled_text = jsontext.dumps(tree)
    return _keep_validated({key[1], filled_text}, compiled, filled_text)


def start_run(tree: dict[str, Any], *, run_id: str | None = None, time_zone: str = "UTC", executor: str = "",
              priority: int = 100, meta: dict[str, Any] | None = None, signal_end: bool = True) -> Started:
    """Validate and start a run in the caller's transaction (see _start)."""
    # Only a start into a caller's writes declines.
    return cast(Started, _start(tree, run_id=run_id, time_zone=time_zone, executor=executor, priority=priority,
                                meta=meta, signal_end=signal_end, into=None))


def start_run_into(into: Writes, tree: dict[str, Any], *, run_id: str | None = None, time_zone: str = "UTC",
                   executor: str = "", priority: int = 100, meta: dict[str, Any] | None = None,
                   signal_end: bool = True) -> Started | None:
    """start_run whose writes are added to `into` (see _start); None when they cannot be."""
    return _start(tree, run_id=run_id, time_zone=time_zone, executor=executor, priority=priority, meta=meta,
                  signal_end=signal_end, into=into)


def _start(tree: dict[str, Any], *, run_id: str | None, time_zone: str, executor: str, priority: int,
           meta: dict[str, Any] | None, signal_end: bool, into: Writes | None) -> Started | None:
    """Validate and start a run, walking its first step here within a small budget.

    The caller's tree is not changed. It is copied only when validation has
    converge gateway ids to fill in (the stored tree carries them). It is
    serialised once: that text finds an earlier validation of it (_validated_tree), the INSERT
    stores it and the tree cache weighs it.

    The first step is walked in memory before the run row exists, for up to
    SOPS_ENGINE_START_WALK_MS of this thread's CPU time: inline nodes run here, so a chain of them is
    finished when the caller's transaction commits, and the first slow
    components' messages go straight to the workers after commit, without an
    advance message in between. The run row and its node rows are then
    inserted as the step left them, in the caller's transaction: nobody else
    can see, lock or write the run before that commit, so this is still the
    run's only writer. A walk that runs out of budget leaves its tokens ready
    and owes an advance step (sent after commit; the run's lease makes the
    sweep send it again if that message is lost), exactly like a start that
    walks nothing.

    `signal_end=False` is for a caller that records an end the first step
    reaches itself, from the returned state, in this same transaction: the
    run_finished signal is then not sent for it (its log line and metric are),
    which saves that caller a second transaction after the commit.

    `into`: the run's writes are added to the caller's Writes, to be sent with its own (its
    send_as_one: one query, no transaction around it), and the step's messages go once they
    are committed, the first step's log rows with them on PostgreSQL. None, and nothing added,
    when the first step's writes cannot be (history rows; log rows elsewhere): the caller starts
    the run another way;
    the walk it did is lost, which only inline nodes' pure calls made.
    """
    compiled, tree_json = _validated_tree(tree)
    run_id = run_id or uuid.uuid4().hex
    now = timezone.now()
    time_zone, executor = time_zone or "UTC", executor or ""
    data = RunData(run_id=run_id, state=s.RUNNING, frontier=start_frontier(compiled),
                   context=start_context(compiled), time_zone=time_zone, executor=executor, started_at=now)
    budget = config.start_walk_seconds()
    walker: Walker | None = None
    if budget > 0:
        # No node row of this run exists yet: the walker's loader has nothing to find.
        walker = Walker(compiled, data, lambda keys: {}, now=config.clock(), rerun_limit=config.rerun_limit())
        walker.walk(cpu_budget(budget))
    owed = walker is None or (walker.exhausted and data.state == s.RUNNING)
    lease_until = now + timedelta(seconds=config.lease_seconds()) if owed else None
    values: dict[str, Any] = dict(
        context=data.context, frontier=data.frontier, meta=meta or {}, time_zone=time_zone, executor=executor,
        priority=priority, now=now, lease_until=lease_until, state=data.state,
        display_state=walker.display_state() if walker else s.RUNNING, outputs=data.outputs,
        finished_at=data.finished_at, steps=0 if walker is None else 1)
    nodes = list(walker.created.values()) if walker is not None else []
    logs = walker.logs if walker is not None else []
    if into is not None:
        statement = None if walker is not None and (walker.histories or (logs and not rows.logs_go_with_writes())) \
            else rows.run_statement(run_id, tree_json, nodes=nodes, **values)
        if statement is None:
            return None
        into.add(*statement)
        for log_write in rows.log_statements(run_id, logs) if logs else ():
            into.add(*log_write)
    elif not rows.insert_run(run_id, tree_json, nodes=nodes or None, **values):
        raise InvalidOperation(f"pipeline({run_id}) has already been started")
    # This process compiled it already: a step it runs itself (a worker that
    # starts runs, the embedded mode) does not read and compile the tree again.
    tree_cache.remember(run_id, compiled, tree_json)
    if into is None:
        metrics.RUNS_STARTED.inc()
    else:  # counted once written: the caller's writes may yet find their row changed
        into.after(metrics.RUNS_STARTED.inc)
    effects: list[Effect] = []
    finished: list[NodeRecord] = []
    if walker is not None:
        if walker.histories:
            rows.insert_histories(run_id, walker.histories)
        if logs and into is None:  # what the inline components of the first step logged
            rows.append_logs(run_id, logs, fresh=True)
        effects, finished = list(walker.effects), list(walker.finished_nodes)
    if owed:
        effects.append(Effect("advance"))
    if effects or finished:
        run_meta = meta or {}

        def committed() -> None:
            dispatch.after_commit(run_id, run_meta, time_zone, executor, effects, finished, signal_end=signal_end)

        if into is not None:
            into.after(committed)
        else:
            transaction.on_commit(committed)
    return Started(run_id, data.state, data.finished_at)


def cpu_budget(seconds: float) -> Callable[[], bool]:
    """A walk's out-of-budget test: True once this thread has spent `seconds` of CPU time.

    CPU time, not wall time: on a busy machine, time spent waiting for a core would
    otherwise cut the walk short and send to a worker what costs a millisecond here."""
    deadline = time.thread_time() + seconds
    return lambda: time.thread_time() >= deadline


@dataclass(frozen=True)
class Stepped:
    """Where a run stands after a step its caller took: RUNNING, or the end the step reached."""

    state: str
    finished_at: datetime | None


def step(run_id: str, apply: Callable[[Walker], T], *, walk: bool = True, budget: float | None = None,
         records: dict[str, NodeRecord] | None = None, savepoint: bool = True, along: Writes | None = None) -> T:
    """Apply one change to a run under its lock, walk, persist; effects go after commit.

    `walk=False` (an operator's operation) leaves ready tokens for an advance
    step in a worker, so a web request stays short whatever the tree.
    `budget` bounds the walk by this thread's CPU time (a web request that walks,
    as a start does); what it leaves ready is owed to an advance step.
    `records` are node records the caller already holds as they are in the
    database (a runner's claimed row), so the step need not read them again.
    `savepoint=False`, inside a caller's transaction that a failure of this step fails whole (the
    caller lets it propagate): the step takes no savepoint of its own, two round trips fewer.
    `along`: the caller's writes of the same transaction, none of whose results is read (its audit
    row), sent with the step's own in one round trip; a step that fails sends none of them.
    """
    with transaction.atomic(savepoint=savepoint):
        cached = tree_cache.cached(run_id)
        run = rows.lock_run(run_id, with_tree=cached is None)
        tree = cached or tree_cache.compiled_tree(run_id, run.tree_json)
        run.tree_json = None  # the compiled form is cached; do not keep the raw one alive in closures
        data = run.data()
        walker = Walker(tree, data, lambda keys: rows.load_records(run_id, keys), now=config.clock(),
                        rerun_limit=config.rerun_limit(), records=records)
        result = apply(walker)
        if walk:
            walker.walk(None if budget is None else cpu_budget(budget))
        else:
            walker.settle()
        _persist(run, data, walker, walked=walk, along=None if along is None else along.take_unread())
    return result


def _persist(run: rows.RunRow, data: RunData, walker: Walker, *, walked: bool,
             along: list[tuple[str, list[Any]]] | None = None) -> None:
    now = timezone.now()
    run_id = run.id
    updated = [walker.records[k] for k in walker.updated if k not in walker.created]
    if walker.histories:
        rows.insert_histories(run_id, walker.histories)
    # An advance is owed when an operation left runnable tokens without walking, or a walk
    # ran out of its budget.
    owed = (not walked or walker.exhausted) and bool(data.frontier["ready"]) and data.state == s.RUNNING
    lease = now + timedelta(seconds=config.lease_seconds()) if owed else None
    changed = walker.changed or lease != run.lease_until
    end = next((e for e in walker.effects if e.kind == "finished"), None)
    recorded = rows.save_step(run_id, list(walker.created.values()), updated,
                              (data, walker.display_state(), lease) if changed else None,
                              then=None if end is None else _end_recording(run, end.state, data.finished_at),
                              logs=walker.logs, along=along)
    effects = list(walker.effects)
    if owed:
        effects.append(Effect("advance"))
    finished = list(walker.finished_nodes)
    if effects or finished:
        meta, time_zone, executor = run.meta, data.time_zone, data.executor
        transaction.on_commit(lambda: dispatch.after_commit(run_id, meta, time_zone, executor, effects, finished,
                                                            recorded=recorded))


def _end_recording(run: rows.RunRow, state: str, finished_at: datetime | None) -> tuple[str, list[Any]] | None:
    """The statement a run_ending receiver answers with, to go with the step's writes (the first
    one given; a receiver that fails is logged and left to run_finished after the commit)."""
    for receiver, answer in run_ending.send_robust(sender=Run, run_id=run.id, state=state, meta=run.meta,
                                                   finished_at=finished_at):
        if isinstance(answer, Exception):
            logger.error("run=%s run_ending receiver %r failed: %r", run.id, receiver, answer)
        elif answer:
            return answer  # (sql, params), by the signal's rule
    return None
