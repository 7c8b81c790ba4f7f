"""Errors of the typed layer: an answer with `result: false` becomes an exception carrying its code and message.

The gateway answers application errors with HTTP 200 and the envelope
`{"result": false, "code": ..., "message": ...}`; `client.api.<name>(...)` returns
that envelope as it is (as BlueKing's SDKs do), the typed layer raises one of these.
Transport failures are not wrapped: they stay the `requests` / bkapi-client-core
exceptions (`requests.ConnectionError`, `requests.Timeout`,
`bkapi_client_core.exceptions.HTTPResponseError` for a non-2xx status, ...).
"""
from __future__ import annotations

from typing import Any

# The service's error codes (sops README, "Compatibility notes").
INVALID_PARAMETER = 3540000
PERMISSION_DENIED = 3540100
NOT_FOUND = 3540400
INVALID_OPERATION = 3545000
SERVER_ERROR = 3599999


class SopsError(Exception):
    """The service answered `result: false`."""

    def __init__(self, code: int | None, message: str, *, operation: str = "", data: Any = None) -> None:
        self.code = code
        self.message = message
        self.operation = operation
        self.data = data
        where = f"{operation}: " if operation else ""
        super().__init__(f"{where}[{code}] {message}")


class InvalidParameterError(SopsError):
    """3540000: a parameter is missing or wrong."""


class PermissionDeniedError(SopsError):
    """3540100: the app or the user was not authenticated, or the user's role does not allow it."""


class NotFoundError(SopsError):
    """3540400: the business, template, task, node or periodic task does not exist."""


class InvalidOperationError(SopsError):
    """3545000: not possible in the current state (starting a started task, ...)."""


class ServerError(SopsError):
    """3599999: the service failed unexpectedly (logged on its side)."""


class UnexpectedResponseError(SopsError):
    """The answer is JSON but not the gateway's envelope."""


_BY_CODE: dict[int, type[SopsError]] = {
    INVALID_PARAMETER: InvalidParameterError,
    PERMISSION_DENIED: PermissionDeniedError,
    NOT_FOUND: NotFoundError,
    INVALID_OPERATION: InvalidOperationError,
    SERVER_ERROR: ServerError,
}


class WaitTimeout(TimeoutError):
    """wait_for_task gave up; `last_status` is the last status it read."""

    def __init__(self, message: str, last_status: Any) -> None:
        super().__init__(message)
        self.last_status = last_status


def unwrap(envelope: Any, operation: str = "") -> Any:
    """The envelope's `data` when `result` is true; otherwise raise the SopsError its code names."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("result"), bool):
        raise UnexpectedResponseError(None, f"not a gateway envelope: {str(envelope)[:200]}", operation=operation)
    if envelope["result"]:
        return envelope.get("data")
    code = envelope.get("code")
    error_class = _BY_CODE.get(code, SopsError) if isinstance(code, int) else SopsError
    raise error_class(code, str(envelope.get("message") or ""), operation=operation, data=envelope.get("data"))
