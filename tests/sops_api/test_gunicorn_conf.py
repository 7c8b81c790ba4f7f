"""A real gunicorn, started as `make run` starts it, writes no credential to any log.

Calls are made in every style the API accepts (query string, JSON query string, JSON body
without a content type, form body, X-Bkapi-Authorization header, ESB-style bk_app_secret),
including requests that fail with an unexpected error after logging what they received
(test-only views in live_urls.py). Then every output of the server (stdout, stderr, every file
under its var/ directory) is searched for each secret value: none may appear, while the
non-secret parts of the same lines (path, app_code, status) must still be there.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.management import call_command

from tests.conftest import _database_url

from .demo import BIZ, TEMPLATE, bootstrap

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command_json(*args: str) -> dict[str, Any]:
    import io

    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def secrets_and_server(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    bootstrap(settings, tmp_path / "demo")
    app_code = "redaction-app"
    app_secret = "S3CR3T-" + secrets.token_hex(12)
    command_json("create_app", "--app-code", app_code, "--secret", app_secret)
    access = command_json("issue_token", "--username", "carol", "--bk-biz-id", str(BIZ), "--role", "maintainer",
                          "--kind", "access_token", "--app-code", app_code)["token"]
    bk_token = command_json("issue_token", "--username", "carol", "--bk-biz-id", str(BIZ), "--role", "maintainer",
                            "--kind", "bk_token")["token"]
    var = tmp_path / "var"
    var.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.sops_api.live_settings",
        "SOPS_VAR_DIR": str(var),
        "PROMETHEUS_MULTIPROC_DIR": str(var / "prometheus"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    stdout, stderr = var / "gunicorn.stdout", var / "gunicorn.stderr"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen([str(GUNICORN), "sops_api.wsgi:application", "--config", "python:sops_api.gunicorn_conf",
                                 "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                                cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=10)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{stderr.read_text()[-3000:]}")
                time.sleep(0.2)
        yield {"base": base, "app_code": app_code, "app_secret": app_secret, "access_token": access,
               "bk_token": bk_token, "var": var, "proc": proc}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def every_output(var: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(var.rglob("*"))
                     if p.is_file() and p.suffix != ".db")


def test_no_secret_in_any_log(secrets_and_server: dict[str, Any]) -> None:
    s = secrets_and_server
    base, app_code = s["base"], s["app_code"]
    creds = {"app_code": app_code, "app_secret": s["app_secret"], "access_token": s["access_token"]}
    esb = {"bk_app_code": app_code, "bk_app_secret": s["app_secret"], "bk_token": s["bk_token"]}
    list_url = f"{base}/apigw/get_template_list/{BIZ}/"
    create_url = f"{base}/apigw/create_task/{TEMPLATE}/{BIZ}/"
    leaky_url = f"{base}/apigw/test_leaky/{BIZ}/"

    answers = [
        requests.get(list_url, creds, timeout=30),                                   # query string
        requests.get(list_url, json.dumps({**creds, "template_source": "business"}), timeout=30),  # JSON query
        requests.get(list_url, esb, timeout=30),                                     # ESB style
        requests.post(create_url, json.dumps({**creds, "name": "json body"}), timeout=30),  # no content type
        requests.post(create_url, data={**creds, "name": "form body"}, timeout=30),  # form
        requests.get(list_url, headers={"X-Bkapi-Authorization": json.dumps(
            {"bk_app_code": app_code, "bk_app_secret": s["app_secret"], "access_token": s["access_token"]})},
            timeout=30),                                                              # header
        requests.get(list_url, {**creds, "app_secret": s["app_secret"] + "x"}, timeout=30),  # refused: wrong secret
    ]
    assert [a.json()["result"] for a in answers] == [True, True, True, True, True, True, False]

    # unexpected errors after logging everything received, in the API and outside it
    leaky = [
        requests.get(leaky_url, creds, timeout=30),
        requests.post(leaky_url, json.dumps({**creds, "note": "a JSON body"}), timeout=30,
                      headers={"X-Bkapi-Authorization": json.dumps(creds)}),
    ]
    for answer in leaky:
        assert answer.status_code == 200 and answer.json()["code"] == 3599999, answer.json()
    crash = requests.get(f"{base}/test_crash/", creds, timeout=30,
                         headers={"X-Bkapi-Authorization": json.dumps(esb)})
    assert crash.status_code == 500
    assert s["app_secret"] not in crash.text  # DEBUG is off: no report in the answer

    time.sleep(0.5)  # let gunicorn write the last access lines
    os.killpg(s["proc"].pid, signal.SIGTERM)
    s["proc"].wait(timeout=15)
    logs = every_output(s["var"])

    for name in ("app_secret", "access_token", "bk_token"):
        assert s[name] not in logs, f"{name} value found in the logs"
    # the same lines keep what is not secret
    access_lines = [line for line in logs.splitlines() if "/apigw/get_template_list/2/" in line and '" 200 ' in line]
    assert len(access_lines) >= 4, logs[-3000:]
    assert any(f"app_code={app_code}" in line and "app_secret=***" in line for line in access_lines), access_lines
    # gunicorn writes a quote in the request line as \"
    assert any(f'{{\\"app_code\\": \\"{app_code}\\", \\"app_secret\\": \\"***\\"' in line
               for line in access_lines), access_lines
    assert any("bk_app_secret=***" in line for line in access_lines)
    assert '"POST /apigw/create_task/1/2/' in logs
    assert "unexpected error in LeakyApiView" in logs and "RuntimeError: unexpected failure" in logs
    assert "Internal Server Error: /test_crash/" in logs
    leak_lines = [json.loads(line) for line in logs.splitlines()
                  if line.startswith("{") and '"sops.tests.leaky"' in line]
    assert len(leak_lines) == 2
    for line in leak_lines:
        assert line["path"] == "/apigw/test_leaky/2/" and line["app_code"] == app_code
        assert "***" in line["msg"] and "***" in line["params"] and app_code in line["params"]
    assert "'X-Bkapi-Authorization': '***'" in leak_lines[1]["headers"]
