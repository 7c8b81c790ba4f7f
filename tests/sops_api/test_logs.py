"""Structured log lines, and the request id every response carries."""
from __future__ import annotations

import json
import logging

import pytest

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


# --- redaction ------------------------------------------------------------------------------------

SECRET = "S3CR3T-value-42"


@pytest.mark.parametrize("text", [
    f"GET /apigw/x/?app_code=a&app_secret={SECRET}&bk_token={SECRET} HTTP/1.1",
    f"/apigw/x/?{{%22app_code%22:%20%22a%22,%20%22access_token%22:%20%22{SECRET}%22}}",
    f'{{"bk_app_secret": "{SECRET}", "name": "x"}}',
    f"{{'app_secret': '{SECRET}', 'access_token': '{SECRET}'}}",
    f"{{'HTTP_X_BKAPI_AUTHORIZATION': '{{\"bk_app_code\": \"a\", \"bk_app_secret\": \"{SECRET}\"}}'}}",
    f'"X-Bkapi-Authorization": "{{\\"access_token\\": \\"{SECRET}\\"}}"',
    f"x-bkapi-authorization: {{\"bk_token\": \"{SECRET}\"}}",
    f"app%5Fsecret={SECRET}&x=1",
    f"<WSGIRequest: GET '/apigw/a/?APP_SECRET={SECRET}&app_code=x'>",
])
def test_redact_text_masks_every_style(text):
    masked = logs.redact_text(text)
    assert SECRET not in masked and logs.MASK in masked


def test_redact_text_keeps_what_is_not_secret():
    text = "app_code=visible&bk_biz_id=2&name=access&my_token_count=3"
    assert logs.redact_text(text) == text


def test_redact_query_catches_encoded_key_names_and_json():
    assert logs.redact_query(f"app_code=a&app%5Fsecret={SECRET}") == "app_code=a&app_secret=***"
    masked = logs.redact_query(f'{{%22bk_token%22:%20%22{SECRET}%22,%20%22n%22:%20%22a%0Ab%22}}')
    assert SECRET not in masked and "\n" not in masked and '"n": "a%0Ab"' in masked


def test_filter_masks_message_args_extras_and_exceptions():
    record = logging.LogRecord("sops.test", logging.ERROR, __file__, 1, "got %s", ({"app_secret": SECRET},), None)
    record.params = {"access_token": SECRET, "app_code": "visible"}
    record.raw = f"bk_token={SECRET}"
    try:
        raise RuntimeError(f"failed with app_secret={SECRET}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    logs.RedactingFilter().filter(record)
    line = logs.JsonFormatter().format(record)
    assert SECRET not in line
    parsed = json.loads(line)
    assert "visible" in parsed["params"] and "RuntimeError: failed with app_secret=***" in parsed["exc"]


def test_error_reports_mask_credentials(rf, settings):
    from django.views.debug import get_exception_reporter_class

    settings.DEBUG = False
    request = rf.post(f"/apigw/x/?app_code=a&access_token={SECRET}", {"app_secret": SECRET, "name": "visible"},
                      HTTP_X_BKAPI_AUTHORIZATION=f'{{"bk_token": "{SECRET}"}}')
    try:
        local_secret = {"bk_app_secret": SECRET}  # noqa: F841 - a frame variable the report shows
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        report = get_exception_reporter_class(request)(request, *sys.exc_info())
        text, html = report.get_traceback_text(), report.get_traceback_html()
    assert SECRET not in text and SECRET not in html
    assert "visible" in text and "/apigw/x/" in text
