"""The sops gateway client: bkapi-client-core's APIGatewayClient with the generated operations on `api`.

URLs: the runtime sends every call to `{endpoint}/{stage}/{operation path}`.
sops serves the gateway's resources under `/apigw/`, so against sops itself the
endpoint is the server's root URL and the stage is `apigw` (the default);
behind a BlueKing API gateway, the endpoint is the gateway's URL for this API
and the stage its environment (`prod`). Without an endpoint argument the
client reads the runtime's `BK_API_URL_TMPL` environment variable
(`{api_name}` in it becomes `bk-sops`).

Credentials: the runtime sends them in the `X-Bkapi-Authorization` header, a
JSON object. With an access_token it sends `{"access_token": ...}` and nothing
else (an access token stands for the app and the user); otherwise the app
credentials and the user's bk_token: `{"bk_app_code", "bk_app_secret", "bk_token"}`.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection
from typing import Any

import requests
from bkapi_client_core.apigateway import APIGatewayClient, bind_property
from bkapi_client_core.session import Session

from .encoding import SopsRequestContextBuilder
from .models import STOP_STATES, TaskStatus
from .operations import Group
from .resources import Counts, Nodes, PeriodicTasks, Tasks, Templates
from .retry import RetryPolicy, is_idempotent

logger = logging.getLogger(__name__)

API_NAME = "bk-sops"
DEFAULT_STAGE = "apigw"
DEFAULT_TIMEOUT = 30.0


class Client(APIGatewayClient):
    """`client.api.<endpoint>(data, path_params)` as in the spec, and the typed layer beside it:
    `client.templates`, `client.tasks`, `client.nodes`, `client.periodic_tasks`, `client.counts`.

    endpoint: the server's root URL (`http://127.0.0.1:8000`), or a gateway URL with stage="prod".
    bk_app_code + bk_app_secret + bk_token: the app's credentials and the user's login ticket.
    access_token: alone, instead of all three.
    timeout: seconds for each request (None: wait forever). retry: how idempotent calls are retried
    after a connection error (RetryPolicy(retries=0) never retries).
    """

    _api_name = API_NAME
    _default_stage = DEFAULT_STAGE
    _build_class = SopsRequestContextBuilder

    api = bind_property(Group)

    def __init__(self, endpoint: str | None = None, stage: str = DEFAULT_STAGE, *,
                 bk_app_code: str | None = None, bk_app_secret: str | None = None, bk_token: str | None = None,
                 access_token: str | None = None, timeout: float | None = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None, session: Session | None = None) -> None:
        endpoint = endpoint or os.environ.get("BK_API_URL_TMPL", "")
        if not endpoint:
            raise ValueError("endpoint is required (the sops server's URL, e.g. http://127.0.0.1:8000), "
                             "or set BK_API_URL_TMPL")
        # The stage is always passed on: the runtime's own default looks it up in Django settings.
        super().__init__(stage=stage, endpoint=endpoint, session=session)
        if timeout is not None:
            self.set_timeout(timeout)
        self.retry = retry or RetryPolicy()
        credentials = {"bk_app_code": bk_app_code, "bk_app_secret": bk_app_secret, "bk_token": bk_token,
                       "access_token": access_token}
        given = {key: value for key, value in credentials.items() if value}
        if given:
            self.update_bkapi_authorization(**given)

        self.templates = Templates(self)
        self.tasks = Tasks(self)
        self.nodes = Nodes(self)
        self.periodic_tasks = PeriodicTasks(self)
        self.counts = Counts(self)

    @property
    def base_url(self) -> str:
        """Where the operations' paths start (`http://127.0.0.1:8000/apigw`)."""
        return self._get_endpoint().rstrip("/")

    def handle_request(self, operation: Any, context: dict[str, Any]) -> requests.Response | None:
        """Send one operation; an idempotent one is sent again after a connection error (see retry.py)."""
        retries = self.retry.retries if is_idempotent(operation) else 0
        attempt = 0
        while True:
            try:
                return super().handle_request(operation, context)
            except requests.ConnectionError as exc:
                if attempt >= retries:
                    raise
                delay = self.retry.delay(attempt)
                logger.warning("%s: connection error (%s); retry %d of %d in %.2f s",
                               operation, exc, attempt + 1, retries, delay)
                time.sleep(delay)
                attempt += 1

    def wait_for_task(self, task_id: int | str, bk_biz_id: int | str, *, timeout: float = 300.0,
                      until: Collection[str] = STOP_STATES, first_interval: float = 0.2,
                      longest_interval: float = 5.0, factor: float = 1.5) -> TaskStatus:
        """Poll the task's status with backoff until FINISHED, FAILED or REVOKED (or a state in `until`);
        WaitTimeout after `timeout` seconds. Same as client.tasks.wait."""
        return self.tasks.wait(task_id=task_id, bk_biz_id=bk_biz_id, timeout=timeout, until=until,
                               first_interval=first_interval, longest_interval=longest_interval, factor=factor)
