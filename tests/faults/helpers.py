"""Trees and waiting helpers shared by the fault tests."""
from __future__ import annotations

import time
from typing import Any

import pytest

from bench.trees import TreeBuilder


def chain(specs: list[tuple[str, dict[str, Any] | None]], prefix: str = "flt", **node_extra: Any) -> dict[str, Any]:
    """start -> one activity per (code, inputs) -> end; `node_extra` goes on every activity."""
    b = TreeBuilder(prefix)
    acts = [b.activity(code, data, **node_extra) for code, data in specs]
    b.link(b.chain(b.start_id, acts), b.end_id)
    return b.build()


def only_activity(tree: dict[str, Any], code: str) -> str:
    ids = [k for k, a in tree["activities"].items() if a["component"]["code"] == code]
    assert len(ids) == 1, ids
    return ids[0]


def start(tree: dict[str, Any]) -> str:
    """run_pipeline in its own committed transaction (the first message leaves on commit)."""
    from django.db import transaction

    from pipeline_engine import api

    with transaction.atomic():
        return api.run_pipeline(tree)


def summaries(run_ids: list[str]) -> dict[str, str]:
    from pipeline_engine import api

    return {rid: s.state for rid, s in api.get_run_summaries(run_ids).items()}


def wait_state(run_ids: list[str], states: set[str], timeout: float, diagnostics: Any = None) -> dict[str, str]:
    """Poll until every run's displayed state is in `states`; fail naming the stragglers."""
    deadline = time.monotonic() + timeout
    current: dict[str, str] = {}
    while time.monotonic() < deadline:
        current = summaries(run_ids)
        if len(current) == len(run_ids) and all(st in states for st in current.values()):
            return current
        time.sleep(0.1)
    stuck = {rid: st for rid, st in current.items() if st not in states}
    extra = diagnostics() if callable(diagnostics) else ""
    pytest.fail(f"{len(stuck)} run(s) not in {sorted(states)} after {timeout}s: "
                f"{dict(list(stuck.items())[:5])}\n{extra}")


def wait_node(run_id: str, node_id: str, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Poll get_node_detail until `predicate(detail)` holds; return the detail."""
    from pipeline_engine import api

    deadline = time.monotonic() + timeout
    detail: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            detail = api.get_node_detail(run_id, node_id)
        except Exception:  # noqa: BLE001 - not reached yet
            detail = {}
        if detail and predicate(detail):
            return detail
        time.sleep(0.05)
    pytest.fail(f"node {node_id} of run {run_id} did not reach the expected state in {timeout}s: "
                f"{ {k: detail.get(k) for k in ('state', 'retry', 'version')} }")
