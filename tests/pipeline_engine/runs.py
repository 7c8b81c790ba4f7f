"""Waiting for runs and reading their rows, for the engine tests that use a live worker."""
from __future__ import annotations

from pathlib import Path

from pipeline_engine import api
from pipeline_engine.runtime.models import NodeState
from tests.conftest import wait_for

TIMEOUT = 60


def state(run_id: str) -> str:
    return api.get_run_summary(run_id).state


def wait_state(run_id: str, *states: str, timeout: float = TIMEOUT) -> str:
    return wait_for(lambda: state(run_id) in states and state(run_id), timeout=timeout,
                    message=f"run {run_id} to reach {states}")


def node(run_id: str, node_id: str) -> NodeState | None:
    return NodeState.objects.filter(run_id=run_id, node_id=node_id).first()


def wait_node(run_id: str, node_id: str, node_state: str, phase: str | None = None) -> NodeState:
    def check() -> NodeState | None:
        row = node(run_id, node_id)
        return row if row and row.state == node_state and (phase is None or row.phase == phase) else None

    return wait_for(check, timeout=TIMEOUT, message=f"{node_id} to be {node_state}/{phase}")


def marks(path: Path) -> list[tuple[str, str, float]]:
    """The start/stop/end lines test_sleep wrote to its marker file."""
    if not path.exists():
        return []
    result = []
    for line in path.read_text().splitlines():
        kind, node_id, at = line.split()
        result.append((kind, node_id, float(at)))
    return result
