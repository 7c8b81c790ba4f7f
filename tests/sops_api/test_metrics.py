"""/metrics: request counters, single- and multi-process."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_metrics_counts_requests(client, gate):
    client.get("/apigw/get_template_list/2/", gate.creds())
    client.get("/apigw/get_template_list/2/", {"app_code": "nobody"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert re.search(r'sops_http_requests_total\{endpoint="get_template_list",method="GET",status="200"\} '
                     r"[1-9]", text)
    assert 'sops_apigw_errors_total{code="3540100",endpoint="get_template_list"}' in text
    assert "sops_http_request_duration_seconds_bucket" in text


def test_metrics_multiprocess_mode(client, monkeypatch, tmp_path):
    # With PROMETHEUS_MULTIPROC_DIR set, /metrics sums the files of every process.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    response = client.get("/metrics")
    assert response.status_code == 200
