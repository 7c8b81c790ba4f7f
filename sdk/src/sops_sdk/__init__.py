"""Python SDK of the sops gateway (the BlueKing Standard OPS API), built on bkapi-client-core.

    from sops_sdk import Client
    client = Client("http://127.0.0.1:8000", bk_app_code=..., bk_app_secret=..., bk_token=...)
    result = client.api.create_task({"name": "t"}, path_params={"template_id": 1, "bk_biz_id": 2})
    task = client.tasks.create(template_id=1, bk_biz_id=2, name="t")
"""
from .client import Client
from .errors import (
    InvalidOperationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    SopsError,
    UnexpectedResponseError,
    WaitTimeout,
)
from .models import STOP_STATES, TaskStatus
from .retry import NO_RETRY, RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "Client",
    "InvalidOperationError",
    "InvalidParameterError",
    "NO_RETRY",
    "NotFoundError",
    "PermissionDeniedError",
    "RetryPolicy",
    "STOP_STATES",
    "ServerError",
    "SopsError",
    "TaskStatus",
    "UnexpectedResponseError",
    "WaitTimeout",
]
