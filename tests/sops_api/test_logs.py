"""Structured log lines, and the request id every response carries."""
from __future__ import annotations

import json
import logging

from sops_api import logs


def format_record(msg: str = "hello", **extra) -> dict:
    record = logging.LogRecord("sops.test", logging.INFO, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    logs.ContextFilter().filter(record)
    return json.loads(logs.JsonFormatter().format(record))


def test_line_has_the_basics():
    line = format_record()
    assert line["level"] == "INFO" and line["logger"] == "sops.test" and line["msg"] == "hello"
    assert "ts" in line


def test_bound_fields_and_extras():
    with logs.bound(run_id="r1", node_id="n1"):
        line = format_record(task_id=7)
    assert (line["run_id"], line["node_id"], line["task_id"]) == ("r1", "n1", 7)
    assert "run_id" not in format_record()  # the block ended


def test_explicit_extra_wins_over_context():
    with logs.bound(user="context"):
        assert format_record(user="explicit")["user"] == "explicit"


def test_long_values_are_cut():
    line = format_record(data={"payload": "x" * 5000})
    assert len(line["data"]) <= logs.MAX_FIELD_CHARS + 1 and line["data"].endswith("…")


def test_request_id_header(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-Id"] == "abc123"
    assert len(client.get("/healthz")["X-Request-Id"]) == 32
