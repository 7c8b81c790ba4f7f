"""sops_api.gunicorn_conf's access log: credentials are masked in every atom a format can read (the request
line, the query string, request and response headers, environ values), and only the atoms the format
reads are masked at all (a request carries dozens; the default format reads none of its headers)."""
from __future__ import annotations

import datetime
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config

from sops_api import gunicorn_conf
from sops_api.logs import MASK

SECRET = "s3cr3t-value-0123"
TOKEN = "t0ken-value-4567"
QUERY = f"app_code=demo&app_secret={SECRET}&access_token={TOKEN}&bk_biz_id=2"


class _Response:
    status = "200 OK"
    status_code = 200
    response_length = sent = 42
    headers = [("Content-Type", "application/json"), ("Set-Cookie", f"sessionid={SECRET}; Path=/")]


class _Request:
    headers = [
        ("HOST", "127.0.0.1:8000"),
        ("USER-AGENT", 'curl/8.0 "quoted"'),
        ("X-BKAPI-AUTHORIZATION", json.dumps({"bk_app_code": "demo", "bk_app_secret": SECRET})),
        ("AUTHORIZATION", f"Bearer {TOKEN}"),
    ]


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "RAW_URI": f"/apigw/get_task_status/7/2/?{QUERY}", "QUERY_STRING": QUERY,
        "PATH_INFO": "/apigw/get_task_status/7/2/", "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}", "HTTP_X_FORWARDED_FOR": "10.0.0.1",
        "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
    }


def _access_line(tmp_path: Path, fmt: str) -> str:
    cfg = Config()
    cfg.set("logger_class", gunicorn_conf.logger_class)
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", fmt)
    logger = cfg.logger_class(cfg)
    logger.access(_Response(), _Request(), _environ(), datetime.timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.flush()
    return (tmp_path / "access.log").read_text()


def test_the_default_line_has_the_request_and_no_credential(tmp_path: Path) -> None:
    line = _access_line(tmp_path, gunicorn_conf.access_log_format)
    assert line.startswith('127.0.0.1 "GET /apigw/get_task_status/7/2/?app_code=demo&app_secret=')
    assert "bk_biz_id=2" in line and " 200 42 " in line
    assert SECRET not in line and TOKEN not in line
    assert MASK in line


def test_every_header_and_environ_atom_a_format_reads_is_masked(tmp_path: Path) -> None:
    fmt = " | ".join(["%(q)s", "%({x-bkapi-authorization}i)s", "%({authorization}i)s", "%({user-agent}i)s",
                      "%({set-cookie}o)s", "%({content-type}o)s", "%({raw_uri}e)s", "%({query_string}e)s",
                      "%({http_authorization}e)s", "%({HTTP_X_FORWARDED_FOR}e)s", "%({no-such-header}i)s"])
    fields = _access_line(tmp_path, fmt).rstrip("\n").split(" | ")
    assert SECRET not in "".join(fields) and TOKEN not in "".join(fields)
    q, bkapi, authorization, agent, cookie, content_type, raw_uri, query, env_auth, forwarded, missing = fields
    assert q == query and q.startswith("app_code=demo&app_secret=") and q.endswith("&bk_biz_id=2")
    # Credential headers are masked whole, whatever their value looks like (a new session's cookie too).
    assert bkapi == authorization == env_auth == cookie == MASK
    # Other values keep their text, with credentials in it masked, and quotes escaped as gunicorn does.
    assert agent == 'curl/8.0 \\"quoted\\"'
    assert content_type == "application/json"
    assert raw_uri == f"/apigw/get_task_status/7/2/?{q}"
    assert forwarded == "10.0.0.1"  # an atom's name is read case-insensitively, as gunicorn's
    assert missing == "-"


def test_atoms_the_format_does_not_read_are_not_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = gunicorn_conf.redact_text

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(gunicorn_conf, "redact_text", counting)
    _access_line(tmp_path, gunicorn_conf.access_log_format)
    assert calls == []  # the request has a dozen header and environ atoms; the default format reads none
    _access_line(tmp_path, "%({user-agent}i)s")
    assert calls == ['curl/8.0 "quoted"']
