"""Prometheus metrics of the engine (the web layer exposes /metrics).

Counters are per process; run workers with PROMETHEUS_MULTIPROC_DIR set to
aggregate them across prefork children.
"""
from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from pipeline_engine.core.tree import ACTIVITY

RUNS_STARTED = Counter("sops_engine_runs_started_total", "Runs started")
RUNS_FINISHED = Counter("sops_engine_runs_finished_total", "Runs that ended (or stopped on a failure)",
                        ["state"])
NODE_EXECUTIONS = Counter("sops_engine_node_executions_total", "Node executions that ended",
                          ["component", "outcome"])
NODE_DURATION = Histogram("sops_engine_node_duration_seconds", "Node execution time, start to end",
                          ["component"], buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600))
QUEUE_WAIT = Histogram("sops_engine_queue_wait_seconds", "Time an engine message waited in the broker",
                       ["task"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))
STEPS = Counter("sops_engine_steps_total", "Advance steps taken", ["reason"])
STALE_MESSAGES = Counter("sops_engine_stale_messages_total", "Messages dropped by a fence", ["task"])
UNSENT_MESSAGES = Counter("sops_engine_messages_unsent_total",
                          "Messages not sent after their commit (left to the sweep)", ["reason"])
REAPER_RECOVERIES = Counter("sops_engine_reaper_recoveries_total", "Work the reaper re-sent", ["kind"])


def nodes_finished(records: list[Any]) -> None:
    """Count a step's finished activities (label lookups once per kind, not per node)."""
    counts: dict[tuple[str, str], int] = {}
    durations: dict[str, list[float]] = {}
    for rec in records:
        if rec.node_type != ACTIVITY:
            continue
        component = rec.component_code or "unknown"
        outcome = "skipped" if rec.skip else ("error_ignored" if rec.error_ignored else rec.state.lower())
        counts[(component, outcome)] = counts.get((component, outcome), 0) + 1
        if rec.started_at and rec.finished_at:
            durations.setdefault(component, []).append((rec.finished_at - rec.started_at).total_seconds())
    for (component, outcome), n in counts.items():
        child(NODE_EXECUTIONS, component, outcome).inc(n)
    for component, values in durations.items():
        histogram = child(NODE_DURATION, component)
        for value in values:
            histogram.observe(value)


# Labelled children, looked up once per process: `labels()` validates and locks
# on every call, which showed up per step in the worker profiles.
_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def run_finished(state: str) -> None:
    child(RUNS_FINISHED, state).inc()
