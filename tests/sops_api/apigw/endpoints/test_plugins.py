"""get_plugin_list, get_plugin_detail and get_plugin_base_info: answered from the component registry."""
from __future__ import annotations

import pytest

from pipeline_engine.core.components import (
    Component,
    ExecutionContext,
    FieldSpec,
    Outcome,
    register,
    unregister,
)
from sops_api.apigw.errors import CONTENT_NOT_EXIST, REQUEST_PARAM_INVALID
from tests.support.gate import assert_forbidden

pytestmark = pytest.mark.django_db


def get(client, url, gate, user="vera", **params):
    response = client.get(url, {**gate.creds(user), **params})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def registered():
    """A plugin registered the way users register theirs, removed afterwards."""

    class Shout(Component):
        code = "test_shout"
        version = "v1.2"
        name = "Shout"
        group = "TEAM"
        description = "upper-cases a text"
        inline = True
        inputs_format = [FieldSpec("text", "Text", "string", required=True, description="what to shout"),
                         FieldSpec("times", "Times", "int")]
        outputs_format = [FieldSpec("loud", "Loud text", "string"), FieldSpec("parts", "Parts", "list")]

        def execute(self, ctx: ExecutionContext) -> Outcome:
            ctx.outputs["loud"] = str(ctx.inputs.get("text", "")).upper()
            return Outcome.success()

    register(Shout)
    yield Shout
    unregister("test_shout")


def test_list_has_the_builtins_with_groups(client, gate):
    body = get(client, "/apigw/get_plugin_list/2/", gate)
    assert body["result"] is True
    by_code = {item["code"]: item for item in body["data"]}
    timer = by_code["sleep_timer"]
    assert timer["group"] == "BK" and timer["group_name"] == "蓝鲸服务(BK)" and timer["version"] == "legacy"
    assert by_code["job_fast_execute_script"]["group_name"] == "作业平台(JOB)"
    timing = next(f for f in timer["inputs"] if f["key"] == "bk_timing")
    assert timing["required"] is True and timing["type"] == "string"
    assert timing["schema"]["type"] == "string" and timing["schema"]["enum"] == []
    assert set(timer) == {"code", "name", "version", "group", "group_name", "desc", "form", "inputs", "outputs"}


def test_a_registered_plugin_appears(client, gate, registered):
    item = next(i for i in get(client, "/apigw/get_plugin_list/2/", gate)["data"] if i["code"] == "test_shout")
    assert item == {
        "code": "test_shout", "name": "Shout", "version": "v1.2", "group": "TEAM", "group_name": "TEAM",
        "desc": "upper-cases a text", "form": "",
        "inputs": [{"name": "Text", "key": "text", "type": "string", "required": True,
                    "schema": {"type": "string", "description": "what to shout", "enum": []}},
                   {"name": "Times", "key": "times", "type": "int", "required": False,
                    "schema": {"type": "integer", "description": "", "enum": []}}],
        "outputs": [{"name": "Loud text", "key": "loud", "type": "string",
                     "schema": {"type": "string", "description": "", "enum": []}},
                    {"name": "Parts", "key": "parts", "type": "list",
                     "schema": {"type": "array", "description": "", "enum": [], "items": {}}}],
    }
    detail = get(client, "/apigw/get_plugin_detail/2/", gate, code="test_shout", version="v1.2")
    assert detail["data"] == item
    # its only version is its default one, so legacy (the default) finds it too
    assert get(client, "/apigw/get_plugin_detail/2/", gate, code="test_shout")["data"]["version"] == "v1.2"
    base = get(client, "/apigw/get_plugin_base_info/2/", gate)["data"]
    assert {"code": "test_shout", "name": "Shout"} in base


def test_base_info(client, gate):
    body = get(client, "/apigw/get_plugin_base_info/2/", gate)
    assert body["result"] is True
    assert all(set(item) == {"code", "name"} for item in body["data"])
    assert {"code": "pause_node", "name": "Pause"} in body["data"]


def test_detail_not_found(client, gate):
    body = get(client, "/apigw/get_plugin_detail/2/", gate, code="sleep_timer", version="v9")
    assert body["code"] == CONTENT_NOT_EXIST
    assert body["message"] == "can not find suitable component with code: sleep_timer and version: v9"


@pytest.mark.parametrize("url", ["/apigw/get_plugin_list/2/", "/apigw/get_plugin_detail/2/",
                                 "/apigw/get_plugin_base_info/2/"])
def test_refusals(client, gate, url):
    assert_forbidden(get(client, url, gate, "otto", code="noop"), "otto")
    assert_forbidden(get(client, url.replace("/2/", "/7/"), gate, code="noop"), "bk_biz_id=7")
    assert get(client, url.replace("/2/", "/99/"), gate, code="noop")["code"] == CONTENT_NOT_EXIST


@pytest.mark.parametrize("params, message", [
    ({}, "parameter code need to be provided."),
    ({"code": ""}, "parameter code need to be provided."),
    ({"code": "noop", "scope": "x"}, "scope"),
])
def test_detail_bad_input(client, gate, params, message):
    body = get(client, "/apigw/get_plugin_detail/2/", gate, **params)
    assert body["code"] == REQUEST_PARAM_INVALID and message in body["message"]


def test_scope_project(client, gate):
    assert get(client, f"/apigw/get_plugin_base_info/{gate.biz.pk}/", gate, scope="project")["result"] is True
    body = get(client, "/apigw/get_plugin_base_info/424242/", gate, scope="project")
    assert body["code"] == CONTENT_NOT_EXIST and body["message"] == "project(424242) with scope(project) does not exist."
