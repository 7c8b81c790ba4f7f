"""Talk to the engine through its public API only, tolerating its absence.

The engine is written concurrently with the benchmark, so every scenario asks
here first whether what it needs exists, and skips with a reason otherwise.
"""
from __future__ import annotations

from typing import Any

RUN_DONE = {"FINISHED", "REVOKED"}


class Unavailable(Exception):
    """What a scenario needs is not there (yet): the scenario prints 'skipped: <why>'."""


def engine_api() -> Any:
    try:
        from pipeline_engine import api
    except ImportError as exc:
        raise Unavailable(f"pipeline_engine.api cannot be imported ({exc})") from exc
    for name in ("run_pipeline", "get_run_summary", "get_run_summaries"):
        if not callable(getattr(api, name, None)):
            raise Unavailable(f"pipeline_engine.api.{name} is missing")
    return api


def component_codes() -> set[str]:
    api = engine_api()
    try:
        return {c["code"] for c in api.list_components()}
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot tell"
        raise Unavailable(f"list_components() failed: {exc!r}") from exc


def require_components(*codes: str) -> None:
    missing = set(codes) - component_codes()
    if missing:
        raise Unavailable(f"component(s) {', '.join(sorted(missing))} not registered")


def summary_state(summary: Any) -> str:
    """RunSummary may be a dataclass or a dict; read its state either way."""
    if isinstance(summary, dict):
        return str(summary.get("state", ""))
    return str(getattr(summary, "state", ""))
