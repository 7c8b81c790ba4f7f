"""Helpers for tests against a live server: the spec's HTTP request styles, and waiting on a task."""
from __future__ import annotations

import json
from typing import Any

import requests

from tests.conftest import wait_for

from .contract import SdkClient


class Http:
    """Sends requests exactly the way the spec's HTTP examples do."""

    def __init__(self, base_url: str, creds: dict[str, str]) -> None:
        self.base = base_url.rstrip("/") + "/apigw/"
        self.creds = creds

    def _kwargs(self, kwargs: dict[str, Any] | None, creds: dict[str, str] | None) -> dict[str, Any]:
        return {**(creds if creds is not None else self.creds), **(kwargs or {})}

    def get(self, path: str, kwargs: dict | None = None, creds: dict | None = None) -> dict[str, Any]:
        """`requests.get(url, kwargs)`: an ordinary query string (nested values as JSON)."""
        query = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in self._kwargs(kwargs, creds).items()}
        return self._answer(requests.get(self.base + path, query, timeout=30))

    def get_json(self, path: str, kwargs: dict | None = None, creds: dict | None = None) -> dict[str, Any]:
        """`requests.get(url, json.dumps(kwargs))`: the whole query string is a JSON document."""
        return self._answer(requests.get(self.base + path, json.dumps(self._kwargs(kwargs, creds)), timeout=30))

    def post(self, path: str, kwargs: dict | None = None, creds: dict | None = None) -> dict[str, Any]:
        """`requests.post(url, json.dumps(kwargs))`: a JSON body without a JSON content type."""
        return self._answer(requests.post(self.base + path, json.dumps(self._kwargs(kwargs, creds)), timeout=30))

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.base + path, timeout=30, **kw)

    @staticmethod
    def _answer(response: requests.Response) -> dict[str, Any]:
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return response.json()


def sdk(base_url: str, creds: dict[str, str]) -> SdkClient:
    return SdkClient(base_url, app_code=creds["app_code"], app_secret=creds["app_secret"],
                     access_token=creds["access_token"])


def ok(answer: dict[str, Any]) -> Any:
    assert answer["result"] is True, answer
    return answer.get("data")


def node_id_of(tree: dict, code: str) -> str:
    return next(i for i, a in tree["activities"].items() if (a.get("component") or {}).get("code") == code)


def wait_status(http: Http, task_id: int, predicate, biz: int = 2, timeout: float = 30, message: str = ""):
    """Poll get_task_status until `predicate(data)` holds; return the data."""
    def probe():
        data = ok(http.get(f"get_task_status/{task_id}/{biz}/"))
        return data if predicate(data) else None
    return wait_for(probe, timeout=timeout, interval=0.2, message=message or f"status of task {task_id}")


def child_state(data: dict, node_id: str) -> str | None:
    return (data.get("children", {}).get(node_id) or {}).get("state")
