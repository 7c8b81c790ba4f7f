"""What every resource shares: call one generated operation and unwrap its envelope."""
from __future__ import annotations

from typing import Any, Protocol

from ..errors import unwrap


class OperationsOwner(Protocol):
    """The client as the resources see it: something with the generated operations under `api`."""

    api: Any


def params(**values: Any) -> dict[str, Any]:
    """The parameters that were given (None means 'not given', so the service applies its default)."""
    return {key: value for key, value in values.items() if value is not None}


class Resource:
    def __init__(self, client: OperationsOwner) -> None:
        self._client = client

    def _envelope(self, operation: str, data: dict[str, Any], path_params: dict[str, Any]) -> dict[str, Any]:
        """The whole envelope of a successful call (some carry more than `data`, e.g. `count`)."""
        envelope = getattr(self._client.api, operation)(data, path_params=path_params)
        unwrap(envelope, operation)
        return envelope

    def _call(self, operation: str, data: dict[str, Any], path_params: dict[str, Any]) -> Any:
        """The `data` of a successful call; SopsError when `result` is false."""
        return self._envelope(operation, data, path_params).get("data")
