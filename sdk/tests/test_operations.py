"""The SDK's operations are the service's endpoints: generated from its OpenAPI document, and compared
with the document the live server serves."""
from __future__ import annotations

import importlib.util
import json
import urllib.request

import pytest
from bkapi_client_core.apigateway import Operation, OperationGroup
from bkapi_client_core.property import BindProperty

from generate_operations import OUTPUT, SchemaError, operations_from_schema, render
from sops_sdk import Client
from sops_sdk.operations import Group

SPEC_ENDPOINTS = {
    "get_template_list", "get_template_info", "create_task", "start_task", "operate_task", "get_task_status",
    "get_task_detail", "get_task_node_detail", "query_task_count", "get_periodic_task_list",
    "get_periodic_task_info", "create_periodic_task", "set_periodic_task_enabled",
    "modify_cron_for_periodic_task", "modify_constants_for_periodic_task", "node_callback",
}


def declared() -> dict[str, Operation]:
    api = Client("http://127.0.0.1:9").api
    return {name: getattr(api, name) for name, value in vars(Group).items() if isinstance(value, BindProperty)}


@pytest.fixture(scope="module")
def served_schema(live) -> dict:
    request = urllib.request.Request(live.endpoint + "/apigw/schema/?format=json")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the test server)
        return json.loads(response.read())


def test_the_installed_operations_are_the_served_documents(served_schema):
    expected = {(op.name, op.method, op.path) for op in operations_from_schema(served_schema)}
    assert {(name, op.method, op.path) for name, op in declared().items()} == expected


def test_the_committed_module_is_what_the_generator_writes_for_the_served_document(served_schema):
    assert OUTPUT.read_text(encoding="utf-8") == render(served_schema), "run `make sdk-operations`"


def test_every_spec_endpoint_is_an_operation_with_the_specs_method():
    operations = declared()
    assert SPEC_ENDPOINTS <= set(operations)
    assert operations["create_task"].path == "/create_task/{template_id}/{bk_biz_id}/"
    gets = {"get_template_list", "get_template_info", "get_task_status", "get_task_detail", "get_task_node_detail",
            "get_periodic_task_list", "get_periodic_task_info"}
    assert {name for name in SPEC_ENDPOINTS if operations[name].method == "GET"} == gets
    # the older edition's get_task_status example calls this path; it answers get_template_info
    assert operations["get_template_info_by_list_path"].path == "/get_template_list/{template_id}/{bk_biz_id}/"


# --- the generator's rules ---------------------------------------------------------------------------

def schema(paths: dict) -> dict:
    return {"info": {"title": "t", "version": "1"}, "paths": paths}


def op(operation_id: str, summary: str = "") -> dict:
    return {"operationId": operation_id, "summary": summary}


def test_a_write_that_also_answers_get_is_its_post():
    (spec,) = operations_from_schema(schema({"/apigw/node_callback/{task_id}/{bk_biz_id}/": {
        "get": op("node_callback_get"), "post": op("node_callback_post", "Call back")}}))
    assert (spec.name, spec.method, spec.path, spec.summary) == (
        "node_callback", "POST", "/node_callback/{task_id}/{bk_biz_id}/", "Call back")


def test_paths_outside_apigw_are_not_operations():
    specs = operations_from_schema(schema({"/healthz": {"get": op("healthz")},
                                           "/apigw/a/": {"get": op("a")}}))
    assert [s.name for s in specs] == ["a"]


@pytest.mark.parametrize("paths, message", [
    ({"/apigw/a/": {"get": op("a")}, "/apigw/b/": {"get": op("a")}}, "also"),
    ({"/apigw/a/": {"get": op("not-a-name")}}, "not usable"),
    ({"/apigw/a/": {"get": op("register")}}, "not usable"),
    ({"/apigw/a/": {"get": op("a_get"), "delete": op("a_delete")}}, "has a rule"),
    ({"/other/": {"get": op("x")}}, "no path"),
])
def test_a_document_the_rules_do_not_cover_is_refused(paths, message):
    with pytest.raises(SchemaError, match=message):
        operations_from_schema(schema(paths))


def test_the_generated_module_declares_what_it_says(tmp_path):
    path = tmp_path / "generated_operations.py"
    path.write_text(render(schema({"/apigw/a/{x}/": {"post": op("a", "Does A")}})))
    module_spec = importlib.util.spec_from_file_location("generated_operations", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    group = module.Group
    assert issubclass(group, OperationGroup)
    operation = group().a
    assert (operation.name, operation.method, operation.path) == ("a", "POST", "/a/{x}/")
