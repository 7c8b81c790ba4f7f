"""The engine's public API (docs/engine-contract.md): the only door the apps use.

Every function delegates: runs start and change in runtime.step, reads come
from runtime.queries, the sweep is runtime.reaper's, tree editing and
validation are the core's. Writes join the caller's transaction and send
their messages on commit. Every operation takes the run's row lock through
`step`, so it never races the walker; operations only change state and leave
tokens for an advance step in a worker, so a web request stays short
whatever the tree.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline_engine.core import egress, egress_http, expansion, jsontext, operations, tree_edit
from pipeline_engine.core import tree as t
from pipeline_engine.core.bounded_cache import BoundedCache, approx_size
from pipeline_engine.core.components import all_components, node_log
from pipeline_engine.core.components import config as component_config
from pipeline_engine.core.components.registry import ComponentNotFound, get_component
from pipeline_engine.core.nodes.activity import preview_inputs
from pipeline_engine.core.records import RunData
from pipeline_engine.core.validation import compile_checked
from pipeline_engine.core.walker import Walker
from pipeline_engine.runtime import config, dispatch, queries, reaper
from pipeline_engine.runtime.db_retry import connection_lost, retry_if_unchanged
from pipeline_engine.runtime.db_retry import describe as describe_db_error
from pipeline_engine.runtime.prepared import (
    Writes,
    compiled_first,
    compiled_first_versioned,
    compiled_rows,
    insert_row,
    insert_rows,
    insert_with_children,
    next_key,
    next_keys,
    update_rows,
    update_statement,
)
from pipeline_engine.runtime.prepared import compiled as compiled_sql
from pipeline_engine.runtime.queries import RunSummary
from pipeline_engine.runtime.step import Started, Stepped, start_run, start_run_into, step, validate_for_start

if TYPE_CHECKING:
    from django.db.models import QuerySet

__all__ = [
    "RunSummary", "SERVICE_ACTIVITY", "START_EVENT", "END_EVENT", "SUB_PROCESS", "GATEWAY_TYPES", "validate_pipeline", "run_pipeline", "start_pipeline", "start_pipeline_into", "Started", "Stepped", "callback_along", "pause_pipeline", "resume_pipeline",
    "revoke_pipeline", "retry_node", "skip_node", "skip_exclusive_gateway", "forced_fail", "callback",
    "pause_subprocess", "resume_subprocess", "get_status_tree", "get_status_tree_of", "get_status_trees", "get_node_detail",
    "preview_node_inputs", "get_run_summary", "get_run_summaries", "list_components", "describe_component", "sweep",
    "get_node_executions", "get_node_logs", "node_log_limit", "NODE_LOG_TRUNCATION_NOTE",
    "prepare_task_tree", "unfold_subprocesses", "check_expansion", "regenerate_ids", "merge_constants", "find_node", "node_names", "all_nodes", "as_list", "referenced_keys",
    "egress_policy", "EgressSession", "EgressRefused", "EgressConfigError",
    # The rule for a lost database connection, for the apps' own loops and requests (runtime/db_retry.py).
    "connection_lost", "retry_if_unchanged", "describe_db_error",
    # The rule for a message sent after its commit, for the apps' own messages (runtime/dispatch.py).
    "publish", "publish_after_commit", "broker_unavailable",
    # In-process caches bounded in entries and bytes, for the apps' own caches (core/bounded_cache.py).
    "BoundedCache", "approx_size",
    # Hot reads compiled to SQL once, for the apps' own (runtime/prepared.py).
    "compiled_sql", "compiled_rows", "compiled_first", "compiled_first_versioned", "insert_row", "insert_rows", "insert_with_children", "next_key", "next_keys",
    "update_rows", "update_statement", "Writes",
    # JSON text by orjson with the standard library's answers, for the JSON columns of the apps (core/jsontext.py).
    "json_text",
]


# --------------------------------------------------------------------------- start
def validate_pipeline(tree: dict[str, Any]) -> None:
    """Raise TreeInvalid naming the node and rule; fills converge_gateway_id in `tree`. A start of
    this same tree, unchanged, in this thread, next, does not validate it again."""
    validate_for_start(tree)


def run_pipeline(tree: dict[str, Any], *, run_id: str | None = None, time_zone: str = "UTC", executor: str = "",
                 priority: int = 100, meta: dict[str, Any] | None = None) -> str:
    """Validate and start a run (the caller's tree is not changed); returns the run id."""
    return start_run(tree, run_id=run_id, time_zone=time_zone, executor=executor, priority=priority,
                     meta=meta).run_id


def start_pipeline(tree: dict[str, Any], *, run_id: str | None = None, time_zone: str = "UTC", executor: str = "",
                   priority: int = 100, meta: dict[str, Any] | None = None) -> Started:
    """run_pipeline for a caller that records the run's end itself: when the first step (walked
    in the caller's transaction) already ends the run, `Started.state` says so and run_finished
    is not sent for that end; the caller records it in the same transaction."""
    return start_run(tree, run_id=run_id, time_zone=time_zone, executor=executor, priority=priority,
                     meta=meta, signal_end=False)


def start_pipeline_into(writes: Writes, tree: dict[str, Any], *, run_id: str, time_zone: str = "UTC",
                        executor: str = "", priority: int = 100,
                        meta: dict[str, Any] | None = None) -> Started | None:
    """start_pipeline whose writes are added to the caller's `writes`, sent with its own as one
    query (Writes.send_as_one); the run's messages go once they are committed. None, with
    nothing added, when the first step's writes are not one statement: start it with
    start_pipeline then, in a transaction."""
    return start_run_into(writes, tree, run_id=run_id, time_zone=time_zone, executor=executor,
                          priority=priority, meta=meta, signal_end=False)


# --------------------------------------------------------------------------- operations
def pause_pipeline(run_id: str) -> None:
    step(run_id, operations.pause, walk=False)


def resume_pipeline(run_id: str) -> None:
    step(run_id, operations.resume, walk=False)


def revoke_pipeline(run_id: str) -> None:
    step(run_id, operations.revoke, walk=False)


def retry_node(run_id: str, node_id: str, inputs: dict[str, Any] | None = None) -> None:
    step(run_id, lambda w: operations.retry(w, w.resolve_key(node_id), inputs), walk=False)


def skip_node(run_id: str, node_id: str) -> None:
    step(run_id, lambda w: operations.skip(w, w.resolve_key(node_id)), walk=False)


def skip_exclusive_gateway(run_id: str, node_id: str, flow_id: str) -> None:
    step(run_id, lambda w: operations.skip_exclusive_gateway(w, w.resolve_key(node_id), flow_id), walk=False)


def forced_fail(run_id: str, node_id: str, ex_data: str = "") -> None:
    step(run_id, lambda w: operations.forced_fail(w, w.resolve_key(node_id), ex_data), walk=False)


def callback(run_id: str, node_id: str, data: Any, version: str | None = None) -> None:
    """Deliver callback data to a waiting node; a repeat of an accepted callback is a no-op.

    As a start does, the caller's step walks on for up to SOPS_ENGINE_START_WALK_MS of CPU time:
    an inline component (pause_node) takes the data at once, and the nodes after it run here
    until a slow component or the budget hands the rest to the workers. With a budget of 0,
    a worker makes every call and every walk, as before."""
    _callback(run_id, node_id, data, version)


def callback_along(run_id: str, node_id: str, data: Any, version: str | None = None, *,
                   along: Writes) -> Stepped:
    """callback inside the caller's transaction, with the caller's writes of it (`along`: its audit
    row; none may read a result) sent with the step's own, in one round trip. An end the step
    reaches is recorded by a run_ending receiver's statement in that same query, as a worker's
    step records it, and run_finished after the commit says so. The step joins the caller's
    transaction without a savepoint of its own: its failure fails that transaction whole (and
    sends none of `along`), which the caller lets propagate."""
    return _callback(run_id, node_id, data, version, savepoint=False, along=along)


def _callback(run_id: str, node_id: str, data: Any, version: str | None, *, savepoint: bool = True,
              along: Writes | None = None) -> Stepped:
    budget = config.start_walk_seconds()

    def deliver(w: Walker) -> RunData:
        operations.callback(w, w.resolve_key(node_id), data, version, inline=budget > 0)
        return w.run  # the step walks and persists it after this: read once the step is done

    run = step(run_id, deliver, walk=budget > 0, budget=budget, savepoint=savepoint, along=along)
    return Stepped(run.state, run.finished_at)


def pause_subprocess(run_id: str, node_id: str) -> None:
    step(run_id, lambda w: operations.pause_subprocess(w, w.resolve_key(node_id)), walk=False)


def resume_subprocess(run_id: str, node_id: str) -> None:
    step(run_id, lambda w: operations.resume_subprocess(w, w.resolve_key(node_id)), walk=False)


# --------------------------------------------------------------------------- reads
def get_status_trees(run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status trees of many runs in one query; unknown ids are left out."""
    return queries.status_trees(run_ids)


def get_status_tree(run_id: str) -> dict[str, Any]:
    return queries.status_tree(run_id)


def get_status_tree_of(name: str, owner: Callable[..., QuerySet], /, *, run_field: str, extra: Sequence[str],
                       **params: Any) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
    """The status tree of the run an app's row names (`owner(**params)`'s `run_field`), with that
    row's `extra` fields, in one query; None when the row or the run is not found."""
    return queries.status_tree_of(name, owner, run_field=run_field, extra=extra, **params)


def get_node_detail(run_id: str, node_id: str) -> dict[str, Any]:
    """Status fields plus inputs, outputs, ex_data, histories, component code and outputs format."""
    return queries.node_detail(run_id, node_id)


def preview_node_inputs(tree: dict[str, Any], node_id: str,
                        subprocess_stack: list[str] | None = None) -> dict[str, Any]:
    """A not-yet-run node's inputs rendered from the tree's constants."""
    return preview_inputs(compile_checked(tree), node_id, subprocess_stack)


def get_run_summaries(run_ids: list[str]) -> dict[str, RunSummary]:
    return queries.run_summaries(run_ids)


def get_run_summary(run_id: str) -> RunSummary:
    return queries.run_summary(run_id)


def get_node_executions(run_ids: list[str], node_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every recorded attempt (current and earlier passes) of the runs' nodes, two queries."""
    return queries.node_executions(run_ids, node_ids)


def get_node_logs(run_id: str, node_id: str, version: str | None = None) -> list[dict[str, Any]]:
    """What the node's component logged, per attempt (oldest first; one attempt with `version`)."""
    return queries.node_logs(run_id, node_id, version)


# The bound on one attempt's log (SOPS_NODE_LOG_MAX_CHARS), and the line readers show past it.
node_log_limit = node_log.limit
NODE_LOG_TRUNCATION_NOTE = node_log.TRUNCATION_NOTE


def list_components() -> list[dict[str, Any]]:
    """Every registered component (code, version, name, group, group_name, description, inputs, outputs)."""
    return [cls.describe() for cls in all_components()]


def describe_component(code: str, version: str | None = None) -> dict[str, Any] | None:
    """One component as list_components describes it; None when nothing is registered under it.

    `version` None, "" or "legacy" means the code's default version (registry.get_component's rule).
    """
    try:
        return get_component(code, version).describe()
    except ComponentNotFound:
        return None


# --------------------------------------------------------------------------- maintenance
def sweep(now: datetime | None = None) -> dict[str, int]:
    """One pass of the sweep (due timers, expired leases, timeouts, owed advances);
    how many items of each kind it acted on."""
    return reaper.sweep(now)


# --------------------------------------------------------------------------- messages
# A message whose state is committed is sent once, and a broker that cannot take it never turns
# the caller's answer into an error: it is logged, counted, and left to the sweeps.
publish = dispatch.publish
publish_after_commit = dispatch.publish_after_commit
broker_unavailable = dispatch.broker_unavailable


# --------------------------------------------------------------------------- tree editing
SERVICE_ACTIVITY = t.ACTIVITY  # the node type whose inputs preview_node_inputs renders
# The tree's node type names, for callers that draw or inspect trees (one definition: core/tree.py).
START_EVENT, END_EVENT, SUB_PROCESS = t.START, t.END, t.SUBPROCESS
GATEWAY_TYPES = t.GATEWAY_TYPES

prepare_task_tree = tree_edit.prepare_task_tree
unfold_subprocesses = tree_edit.unfold_subprocesses


def check_expansion(tree: dict[str, Any], *, label: str = "the pipeline tree") -> None:
    """Refuse (TreeInvalid) a tree over the expansion budget as it is, inline SubProcesses counted
    (SOPS_MAX_EXPANDED_NODES, SOPS_MAX_SUBPROCESS_DEPTH; core/expansion.py). Iterative: safe on any
    input, so callers run it before any walk that recurses per level."""
    expansion.check(tree, label=label)


regenerate_ids = tree_edit.regenerate_ids
merge_constants = tree_edit.merge_constants
find_node = tree_edit.find_node
node_names = tree_edit.node_names
# Outbound HTTP made for users: one policy (SOPS_HTTP_ALLOWLIST; rules in core/egress.py) and a
# session that connects only to the addresses the policy checked.
egress_policy = component_config.egress_policy
EgressSession = egress_http.EgressSession
EgressRefused = egress.EgressRefused
EgressConfigError = egress.EgressConfigError
referenced_keys = tree_edit.referenced_keys  # the ${key} constants a value refers to (the walker's own finder)
all_nodes = tree_edit.all_nodes  # every node of one tree level (activities, gateways, events) by id
as_list = t.as_list  # a node's incoming/outgoing, which the web tree writes as a string or a list
json_text = jsontext.dumps
