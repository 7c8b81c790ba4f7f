"""The probe file: what the fault components did, one JSON line per call.

A file, not Redis or the database: the record must survive the very faults
under test (a flushed Redis, the rolled-back transaction of a killed worker).
Appends of one short line with O_APPEND are atomic across processes on a local
file system. No engine import here, so conftest can load it before the engine
exists.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

PROBE_ENV = "SOPS_FAULTS_PROBE_FILE"


def probe(event: str, ctx: Any, **extra: Any) -> None:
    """Append one record for a component call (ctx: the engine's ExecutionContext)."""
    path = os.environ.get(PROBE_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "run": ctx.run_id, "node": ctx.node_id, "version": ctx.version,
                       "t": time.time(), "pid": os.getpid(), **extra}, separators=(",", ":"),
                      default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_probe(path: str | Path) -> list[dict[str, Any]]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
