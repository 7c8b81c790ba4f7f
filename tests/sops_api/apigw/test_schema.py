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


@pytest.fixture(scope="module")
def document(django_db_setup, django_db_blocker) -> dict:
    """The OpenAPI document as /apigw/schema/ serves it."""
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/apigw/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def operation(document: dict, path: str, method: str = "post") -> dict:
    return document["paths"][path][method]


def data_schema(document: dict, op: dict) -> dict:
    """The schema of `data` in an operation's envelope (the second part of its allOf)."""
    body = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["allOf"][0] == {"$ref": "#/components/schemas/Envelope"}
    return body["allOf"][1]["properties"]["data"]


def component(document: dict, ref_holder: dict) -> dict:
    ref = ref_holder.get("$ref") or ref_holder["allOf"][0]["$ref"]
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def body_schema(document: dict, op: dict) -> dict:
    return component(document, op["requestBody"]["content"]["application/json"]["schema"])


def query(op: dict) -> dict[str, dict]:
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}


def test_the_envelope_is_one_component_whose_data_is_null_on_errors(document):
    envelope = document["components"]["schemas"]["Envelope"]
    assert set(envelope["required"]) == {"result", "data", "message", "code"}
    assert envelope["properties"]["data"]["nullable"] is True
    assert 3540000 in envelope["properties"]["code"]["enum"]
    # get_template_list and get_template_info: data is typed on success and may be null (errors).
    listing = data_schema(document, operation(document, "/apigw/get_template_list/{bk_biz_id}/", "get"))
    assert listing["type"] == "array" and listing["nullable"] is True
    assert {"id", "name", "bk_biz_name"} <= set(component(document, listing["items"])["properties"])
    info = data_schema(document, operation(document, "/apigw/get_template_info/{template_id}/{bk_biz_id}/", "get"))
    assert info["nullable"] is True and "pipeline_tree" in component(document, info)["properties"]


def test_every_operation_answers_the_envelope_and_documents_data(document):
    untyped = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            body = op["responses"]["200"]["content"]["application/json"]["schema"]
            if body != {"$ref": "#/components/schemas/Envelope"}:
                assert body["allOf"][0] == {"$ref": "#/components/schemas/Envelope"}, (path, method)
            else:
                untyped.append(op["operationId"])
    # Only node_callback answers data null on success too.
    assert sorted(untyped) == ["node_callback_get", "node_callback_post"]


@pytest.mark.parametrize(("path", "fields", "required"), [
    ("/apigw/create_task/{template_id}/{bk_biz_id}/",
     {"name", "flow_type", "constants", "exclude_task_nodes_id", "template_source"}, {"name"}),
    ("/apigw/create_and_start_task/{template_id}/{bk_biz_id}/", {"name", "constants"}, {"name"}),
    ("/apigw/operate_task/{task_id}/{bk_biz_id}/", {"action"}, {"action"}),
    ("/apigw/query_task_count/{bk_biz_id}/", {"conditions", "group_by"}, {"group_by"}),
    ("/apigw/create_periodic_task/{template_id}/{bk_biz_id}/", {"name", "cron", "constants", "exclude_task_nodes_id"},
     {"name", "cron"}),
    ("/apigw/set_periodic_task_enabled/{task_id}/{bk_biz_id}/", {"enabled"}, set()),
    ("/apigw/modify_cron_for_periodic_task/{task_id}/{bk_biz_id}/", {"cron"}, {"cron"}),
    ("/apigw/modify_constants_for_periodic_task/{task_id}/{bk_biz_id}/", {"constants"}, set()),
    ("/apigw/node_callback/{task_id}/{bk_biz_id}/", {"node_id", "callback_data"}, {"node_id"}),
    ("/apigw/operate_node/{bk_biz_id}/{task_id}/", {"action", "node_id", "inputs", "data", "flow_id"}, {"action", "node_id"}),
    ("/apigw/get_tasks_status/{bk_biz_id}/", {"task_id_list", "include_children_status"}, {"task_id_list"}),
])
def test_post_bodies_declare_the_fields_the_handlers_read(document, path, fields, required):
    body = body_schema(document, operation(document, path))
    assert fields <= set(body["properties"]), set(body["properties"])
    assert set(body.get("required", [])) == required
    for name, field in body["properties"].items():
        assert field.get("description"), (path, name)


def test_get_endpoints_declare_their_query_parameters(document):
    node = query(operation(document, "/apigw/get_task_node_detail/{task_id}/{bk_biz_id}/", "get"))
    assert {"node_id", "act_id", "component_code", "subprocess_stack"} <= set(node)
    # A list in a query string is JSON text.
    assert node["subprocess_stack"]["content"]["application/json"]["schema"]["type"] == "array"
    listing = query(operation(document, "/apigw/get_task_list/{bk_biz_id}/", "get"))
    number, blank = listing["limit"]["schema"]["oneOf"]
    assert number["type"] == "integer" and number["maximum"] == 200 and number["minimum"] == 1
    # `?limit=` is read as absent (the default): the document admits "" and nothing else as text
    assert blank == {"type": "string", "enum": [""], "description": "empty: the default"}
    assert listing["limit"]["schema"]["default"] == 100
    # The writes that also answer GET document the same parameters in the query string.
    cron = query(operation(document, "/apigw/modify_cron_for_periodic_task/{task_id}/{bk_biz_id}/", "get"))["cron"]
    assert cron["required"] is True and "application/json" in cron["content"]


def test_every_parameter_and_field_has_a_description_and_an_example(document):
    missing = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            for parameter in op.get("parameters", []):
                media = next(iter(parameter.get("content", {}).values()), {})
                example = "example" in (parameter.get("schema") or {}) or "example" in media
                if not parameter.get("description") or not example:
                    missing.append((path, method, parameter["name"]))
    for name, schema in document["components"]["schemas"].items():
        for field, value in (schema.get("properties") or {}).items():
            if "$ref" in value or (name, field) == ("Envelope", "data"):
                continue
            if "allOf" in value and "$ref" in value["allOf"][0] and value.get("description"):
                continue
            if not value.get("description") or "example" not in value:
                missing.append((name, field))
    assert missing == []


def test_path_ids_are_integers_with_a_demo_example(document):
    for path, item in document["paths"].items():
        for op in item.values():
            for parameter in op.get("parameters", []):
                if parameter["in"] == "path":
                    assert parameter["schema"]["type"] == "integer", (path, parameter)
                    assert parameter["schema"]["example"] in (1, 2, 10)


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


def test_only_optional_numbers_and_booleans_admit_an_empty_value():
    from sops_api.apigw.schema import _blank_means_default
    from sops_api.apigw.serializers.fields import Boolean, Integer, String

    number = {"type": "integer", "minimum": 1}
    assert _blank_means_default(Integer(required=True), dict(number)) == number  # "" is refused there
    assert _blank_means_default(String(required=False), {"type": "string"}) == {"type": "string"}  # "" is a text
    optional = _blank_means_default(Boolean(required=False, default=False), {"type": "boolean", "default": False})
    assert optional == {"default": False, "oneOf": [{"type": "boolean"},
                                                    {"type": "string", "enum": [""], "description": "empty: the default"}]}
