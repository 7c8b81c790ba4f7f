"""Captured queries as the statements they ran: a hot statement goes to PostgreSQL as an EXECUTE of
a statement prepared once per connection (pipeline_engine/runtime/prepared.py), whose text names
no table; tests that read SQL read what it stands for."""
from __future__ import annotations

from typing import Any

from pipeline_engine.runtime.prepared import statement_of


def statements(queries: Any) -> list[str]:
    """The SQL of each query a CaptureQueriesContext caught, prepared statements expanded."""
    return [statement_of(q["sql"]) for q in queries.captured_queries]
