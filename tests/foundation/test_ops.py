"""/healthz, /metrics, /apigw/schema/ and /apigw/docs/."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

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


@pytest.mark.parametrize("header, status", [
    (None, 401), ("Bearer wrong-token", 401), ("Bearer right-token-x", 401), ("Basic right-token", 401),
    ("Bearer right-token", 200), ("bearer right-token", 200),
])
def test_metrics_bearer_token(client, settings, header, status):
    settings.SOPS_METRICS_TOKEN = "right-token"
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer") and b"sops_http" not in response.content
    else:
        assert b"sops_http_requests_total" in response.content


def test_metrics_open_without_a_token(client, settings):
    settings.SOPS_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200


def test_request_id_header(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-Id"] == "abc123"
    assert len(client.get("/healthz")["X-Request-Id"]) == 32


def apigw_routes() -> set[str]:
    """Every /apigw/ route of the project, in OpenAPI's {name} form."""
    routes: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(p.pattern)))

    walk(get_resolver().url_patterns, "")
    return {r for r in routes if r.startswith("/apigw/") and r not in ("/apigw/schema/", "/apigw/docs/")}


def test_schema_documents_every_apigw_path(client):
    response = client.get("/apigw/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    routes = apigw_routes()
    assert {"/apigw/get_template_list/{bk_biz_id}/", "/apigw/get_template_info/{template_id}/{bk_biz_id}/",
            "/apigw/get_template_list/{template_id}/{bk_biz_id}/"} <= routes
    assert routes - set(schema["paths"]) == set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("operationId"), (path, method)
            assert "200" in operation["responses"], (path, method)
            assert operation.get("security"), (path, method)
    assert {"app_code", "app_secret", "access_token", "bk_token", "bkapi_authorization"} <= set(
        schema["components"]["securitySchemes"])
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_schema_template_endpoints_describe_their_data(client):
    schema = client.get("/apigw/schema/", HTTP_ACCEPT="application/json").json()
    listing = schema["paths"]["/apigw/get_template_list/{bk_biz_id}/"]["get"]
    body = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["properties"]["data"]["type"] == "array"
    assert {"id", "name", "bk_biz_name"} <= set(body["properties"]["data"]["items"]["properties"])


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/apigw/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr.net" not in html
    asset = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', html).group(1)
    assert "sidecar" in asset
    # ...and served by the app itself (whitenoise), since gunicorn serves no static files.
    assert client.get(asset).status_code == 200
    assert client.get("/static/admin/css/base.css").status_code == 200
