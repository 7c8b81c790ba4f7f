"""The SDK's operation list (sdk/src/sops_sdk/operations.py) matches the service's OpenAPI document.

Here in the service's suite so that adding or renaming an endpoint fails `make test` until the SDK is
regenerated (`make sdk-operations`); sdk/tests compares the installed SDK with the served document too.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

GENERATOR = Path(__file__).resolve().parents[2] / "sdk" / "scripts" / "generate_operations.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_operations", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _schema() -> dict:
    """What `manage.py spectacular --format openapi-json` prints."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def test_the_sdk_declares_every_endpoint_of_the_schema():
    generator = _generator()
    committed = generator.OUTPUT.read_text(encoding="utf-8")
    assert committed == generator.render(_schema()), (
        "sdk/src/sops_sdk/operations.py is stale: run `make sdk-operations` and commit it")


def test_every_route_under_apigw_is_an_operation():
    """Also a view left out of the schema: every URL the apps route under /apigw/ is in the SDK."""
    from django.urls import URLResolver, get_resolver

    operation_paths = {op.path for op in _generator().operations_from_schema(_schema())}
    routes = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == "apigw/":
            routes |= {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern)) for p in entry.url_patterns}
    assert "/create_task/{template_id}/{bk_biz_id}/" in routes
    assert routes == operation_paths
