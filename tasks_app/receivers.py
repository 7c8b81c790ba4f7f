"""Receivers of the engine's signals."""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("sops.tasks")


def on_run_finished(sender: Any = None, *, run_id: str, state: str, meta: dict | None = None,
                    recorded: bool = False, **_: Any) -> None:
    from .services import record_run_end

    if recorded:  # on_run_ending's statement recorded it, in the step's own transaction
        return
    try:
        record_run_end(run_id=run_id, state=state, meta=meta)
    except Exception:  # a receiver must never break the engine's own flow
        logger.exception("could not record the end of run %s (%s)", run_id, state)


def on_node_failed(sender: Any = None, *, run_id: str, node_id: str, meta: dict | None = None, **_: Any) -> None:
    from .services import record_node_failure

    try:
        record_node_failure(run_id=run_id, node_id=node_id, meta=meta)
    except Exception:  # a receiver must never break the engine's own flow
        logger.exception("could not report the failure of node %s of run %s", node_id, run_id)


def on_run_ending(sender: Any = None, *, run_id: str, state: str, meta: dict | None = None,
                  finished_at: Any = None, **_: Any) -> tuple[str, list[Any]] | None:
    """The statement recording a run's end on its task, for the engine to send with the step's
    writes (the usual case: a task without callback_url); run_finished does the rest."""
    from .services import run_end_statement

    return run_end_statement(state=state, meta=meta, finish_time=finished_at)
