"""Reading the counters and waiting for runs, from the driver process."""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import sql_count
from .engine_probe import RUN_DONE, summary_state


@dataclass
class Totals:
    sql: int = 0
    tasks: int = 0
    task_names: dict[str, int] = field(default_factory=dict)
    sql_text: Counter[str] = field(default_factory=Counter)
    sql_micros: Counter[str] = field(default_factory=Counter)


class Counters:
    """The workers' Redis totals (see bench/sql_count.py)."""

    KEYS = (sql_count.KEY_SQL, sql_count.KEY_TASKS_STARTED, sql_count.KEY_TASKS_DONE,
            sql_count.KEY_TASK_NAMES, sql_count.KEY_SQL_TEXT, sql_count.KEY_SQL_MICROS, sql_count.KEY_DONE)

    def __init__(self, client: Any) -> None:
        self.r = client

    def reset(self) -> None:
        self.r.delete(*self.KEYS)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every task a worker started has flushed its counts, and nothing moves.

        A run is reported finished from inside its last task, before that task's
        postrun flush, so reading at once would miss the last task's statements.
        """
        deadline = time.monotonic() + timeout
        last: tuple[int, int] | None = None
        while time.monotonic() < deadline:
            started, done = (int(x or 0) for x in self.r.mget(sql_count.KEY_TASKS_STARTED, sql_count.KEY_TASKS_DONE))
            now = (started, done)
            if started == done and now == last:
                return
            last = now
            time.sleep(0.02)

    def read(self) -> Totals:
        sql, started = self.r.mget(sql_count.KEY_SQL, sql_count.KEY_TASKS_STARTED)
        names = {k.decode(): int(v) for k, v in self.r.hgetall(sql_count.KEY_TASK_NAMES).items()}
        texts = Counter({k.decode(): int(v) for k, v in self.r.hgetall(sql_count.KEY_SQL_TEXT).items()})
        micros = Counter({k.decode(): int(v) for k, v in self.r.hgetall(sql_count.KEY_SQL_MICROS).items()})
        return Totals(sql=int(sql or 0), tasks=int(started or 0), task_names=names, sql_text=texts,
                      sql_micros=micros)


class RunFailed(Exception):
    pass


class Waiter:
    """Learn when runs end: from the run_finished events the workers push, else by polling.

    Polling the engine is only a fallback (every 0.5 s while events flow, every
    2 ms if the engine has no signal): it would add load to what is measured.
    """

    def __init__(self, client: Any, api: Any, have_signal: bool) -> None:
        self.r = client
        self.api = api
        self.have_signal = have_signal

    def wait(self, run_ids: list[str], timeout: float) -> dict[str, float]:
        """Block until every run ends; return its finish time (time.time()). Raise on failure/timeout."""
        pending = set(run_ids)
        finished: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        last_poll = time.monotonic()
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunFailed(f"{len(pending)} of {len(run_ids)} runs not finished after {timeout:.0f}s "
                                f"(e.g. {sorted(pending)[:3]}: {self._states(sorted(pending)[:3])})")
            if self.have_signal:
                item = self.r.blpop(sql_count.KEY_DONE, timeout=min(0.5, max(remaining, 0.01)))
                if item is not None:
                    event = json.loads(item[1])
                    run_id = event["run_id"]
                    if run_id in pending:
                        if event["state"] != "FINISHED":
                            raise RunFailed(f"run {run_id} ended {event['state']}")
                        finished[run_id] = float(event["t"])
                        pending.discard(run_id)
                    continue
                if time.monotonic() - last_poll < 0.5:
                    continue
            else:
                time.sleep(0.002)
            last_poll = time.monotonic()
            self._poll(pending, finished)
        return finished

    def _states(self, run_ids: list[str]) -> dict[str, str]:
        try:
            return {rid: summary_state(s) for rid, s in self.api.get_run_summaries(run_ids).items()}
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return {"error": repr(exc)}

    def _poll(self, pending: set[str], finished: dict[str, float]) -> None:
        from django.db import connection

        summaries = self.api.get_run_summaries(sorted(pending))
        now = time.time()
        for run_id, summary in summaries.items():
            state = summary_state(summary)
            if state in RUN_DONE:
                if state != "FINISHED":
                    raise RunFailed(f"run {run_id} ended {state}")
                finished[run_id] = now
                pending.discard(run_id)
            elif state == "FAILED":
                raise RunFailed(f"run {run_id} has a failed node")
        # Never hold a snapshot open between polls.
        connection.close_if_unusable_or_obsolete()
