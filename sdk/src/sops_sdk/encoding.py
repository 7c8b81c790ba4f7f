"""How an operation's data becomes the request: a GET's query string carries nested values as JSON.

bkapi-client-core puts `data` into the query string of a GET and into the JSON body
otherwise. requests would spread a dict or a list over repeated keys
(`conditions=a&conditions=b`); sops reads such query parameters as JSON
documents (`subprocess_stack=["node..."]`), and booleans as true/false.
"""
from __future__ import annotations

import json
from typing import Any

from bkapi_client_core.client import RequestContextBuilder

QUERY_METHODS = ("GET", "HEAD", "OPTIONS")


def query_value(value: Any) -> Any:
    """A parameter as the service reads it from a query string."""
    if isinstance(value, dict | list | tuple | bool):
        return json.dumps(value, ensure_ascii=False)
    return value


class SopsRequestContextBuilder(RequestContextBuilder):
    def build_data(self, context: dict[str, Any], data: Any = None) -> None:
        if data and isinstance(data, dict) and context["method"] in QUERY_METHODS:
            data = {key: query_value(value) for key, value in data.items()}
        super().build_data(context, data)
