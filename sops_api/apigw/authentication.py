"""DRF authentication of /apigw/ calls: credentials from the query, the body or X-Bkapi-Authorization.

The spec's examples send `app_code`/`app_secret`; ESB-style SDKs send
`bk_app_code`/`bk_app_secret`, the API gateway's SDK (bkapi-client-core) a
JSON header: `{"bk_app_code", "bk_app_secret", "bk_token"}`, or
`{"access_token"}` alone. Each token is passed on under the name it came
with; the checks themselves are access_app's (access_app/authentication.py).
"""
from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from access_app import authentication
from sops_api import logs
from sops_common.errors import Forbidden

from .params import request_params

CREDENTIAL_KEYS = ("app_code", "app_secret", "bk_app_code", "bk_app_secret", "bk_token", "access_token")


def _header_credentials(request: HttpRequest) -> dict[str, Any]:
    raw = request.headers.get("X-Bkapi-Authorization")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Forbidden("X-Bkapi-Authorization header is not a JSON object") from exc
    if not isinstance(value, dict):
        raise Forbidden("X-Bkapi-Authorization header is not a JSON object")
    return value


def credentials(request: HttpRequest, params: dict[str, Any]) -> dict[str, str]:
    """The credential keys found in the parameters, then the header (the header wins)."""
    found: dict[str, str] = {}
    for source in (params, _header_credentials(request)):
        for key in CREDENTIAL_KEYS:
            value = source.get(key)
            if value not in (None, ""):
                found[key] = str(value)
    return found


class AppAndUserAuthentication(BaseAuthentication):
    """request.user is the ticket's user, request.auth the access_app Caller (app, user, role)."""

    def authenticate(self, request: Request) -> tuple[Any, authentication.Caller]:
        raw: HttpRequest = request._request
        creds = credentials(raw, request_params(raw).values)
        caller = authentication.authenticate(
            app_code=creds.get("bk_app_code") or creds.get("app_code"),
            app_secret=creds.get("bk_app_secret") or creds.get("app_secret"),
            bk_token=creds.get("bk_token"),
            access_token=creds.get("access_token"),
        )
        logs.bind(app_code=caller.app.app_code, user=caller.user.get_username())
        return caller.user, caller
