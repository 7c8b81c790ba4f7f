"""/healthz: the database and broker checks."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "broker": "ok"}
    assert client.get("/healthz/").status_code == 200


def test_healthz_broker_down_is_503(client, monkeypatch):
    from sops_api.celery import app

    # A port nothing listens on: the check must fail fast, not retry for minutes.
    real = app.connection_for_write
    monkeypatch.setattr(app, "connection_for_write", lambda *a, **k: real("redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"
    assert body["elapsed_ms"] < 10_000


def test_healthz_database_down_is_503(client, monkeypatch):
    from sops_api import ops

    def broken(*args, **kwargs):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(ops.connection, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "database is gone" in response.json()["checks"]["database"]


def test_healthz_is_get_only(client):
    assert client.post("/healthz").status_code == 405
