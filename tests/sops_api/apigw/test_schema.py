"""The OpenAPI schema (/apigw/schema/) and Swagger UI (/apigw/docs/)."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db


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
