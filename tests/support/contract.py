"""The contract tests' tools: documented examples from the spec, a response-shape comparison, and a tiny
ESB-SDK-style client (`client.api.<endpoint>(kwargs, path_kwargs)`)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import requests

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "apigw.md"

# endpoint -> (method, path template); the SDK maps names to these as the gateway's resource list does.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "create_task": ("POST", "create_task/{template_id}/{bk_biz_id}/"),
    "create_and_start_task": ("POST", "create_and_start_task/{template_id}/{bk_biz_id}/"),
    "start_task": ("POST", "start_task/{task_id}/{bk_biz_id}/"),
    "operate_task": ("POST", "operate_task/{task_id}/{bk_biz_id}/"),
    "get_task_status": ("GET", "get_task_status/{task_id}/{bk_biz_id}/"),
    "get_task_detail": ("GET", "get_task_detail/{task_id}/{bk_biz_id}/"),
    "get_task_node_detail": ("GET", "get_task_node_detail/{task_id}/{bk_biz_id}/"),
    "query_task_count": ("POST", "query_task_count/{bk_biz_id}/"),
    "node_callback": ("POST", "node_callback/{task_id}/{bk_biz_id}/"),
    "operate_node": ("POST", "operate_node/{bk_biz_id}/{task_id}/"),
    "get_task_list": ("GET", "get_task_list/{bk_biz_id}/"),
    "get_tasks_status": ("POST", "get_tasks_status/{bk_biz_id}/"),
    "claim_functionalization_task": ("POST", "claim_functionalization_task/{task_id}/{bk_biz_id}/"),
    "preview_task_tree": ("POST", "preview_task_tree/{bk_biz_id}/{template_id}/"),
}


class SdkClient:
    """What `get_client_by_request(request)` gives in the spec's ESB SDK examples.

    Credentials travel in the X-Bkapi-Authorization header, as the gateway SDK sends them.
    """

    def __init__(self, base_url: str, *, app_code: str, app_secret: str, access_token: str) -> None:
        self.base_url = base_url.rstrip("/") + "/apigw/"
        self.auth = json.dumps({"bk_app_code": app_code, "bk_app_secret": app_secret, "access_token": access_token})
        self.api = _Api(self)

    def call(self, endpoint: str, kwargs: dict[str, Any], path_kwargs: dict[str, Any]) -> dict[str, Any]:
        method, template = ENDPOINTS[endpoint]
        url = self.base_url + template.format(**path_kwargs)
        headers = {"X-Bkapi-Authorization": self.auth}
        if method == "GET":
            query = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in kwargs.items()}
            response = requests.get(url, params=query, headers=headers, timeout=30)
        else:
            response = requests.post(url, json=kwargs, headers=headers, timeout=30)
        assert response.status_code == 200, (endpoint, response.status_code, response.text[:500])
        return response.json()


class _Api:
    def __init__(self, client: SdkClient) -> None:
        self._client = client

    def __getattr__(self, endpoint: str):
        if endpoint not in ENDPOINTS:
            raise AttributeError(endpoint)
        return lambda kwargs, path_kwargs: self._client.call(endpoint, kwargs, path_kwargs)


def documented_response(endpoint: str) -> dict[str, Any]:
    """The `### 返回结果示例` block of an endpoint, made parseable (the spec's JSON has class-name
    strings with inner quotes and trailing commas)."""
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(f"\n## {endpoint}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    block = section[section.index("### 返回结果示例"):]
    body = block.split("```", 2)[1]
    body = re.sub(r'"<class "[^"]*">"', '"<class>"', body)
    body = re.sub(r",(\s*[}\]])", r"\1", body)
    return json.loads(body)


# Keys whose value is a map keyed by ids or variable names: every entry must look like a documented one.
MAP_KEYS = {"activities", "flows", "gateways", "children", "source_info"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def shape_errors(actual: Any, documented: Any, *, loose: set[str] = frozenset(), path: str = "") -> list[str]:
    """Where `actual` does not have the documented shape: every documented key present, same kind of value.

    Extra keys are allowed. null matches anything (the spec shows '' where the newest answers null).
    A key named in `loose` may hold any value.
    """
    key = path.rsplit(".", 1)[-1]
    if key in loose or documented is None or actual is None:
        return []
    kind_a, kind_d = _kind(actual), _kind(documented)
    if kind_a != kind_d:
        return [f"{path or '<root>'}: {kind_a} where the spec shows {kind_d} ({documented!r})"]
    errors: list[str] = []
    if kind_d == "object":
        if key in MAP_KEYS or (key == "data" and ".component" in path[-len(".component.data") - 1:]):
            samples = list(documented.values())
            if samples:
                for k, v in actual.items():
                    errors += shape_errors(v, samples[0], loose=loose, path=f"{path}.{k}")
            return errors
        for k, v in documented.items():
            if k not in actual:
                errors.append(f"{path}.{k}: missing")
            else:
                errors += shape_errors(actual[k], v, loose=loose, path=f"{path}.{k}")
    elif kind_d == "array" and documented:
        for i, item in enumerate(actual):
            errors += shape_errors(item, documented[0], loose=loose, path=f"{path}[{i}]")
    return errors
