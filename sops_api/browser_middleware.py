"""Django's browser middleware (sessions, authentication, messages, framing), skipped for the
gateway's JSON calls.

A call to /apigw/ authenticates itself with app credentials on every request (DRF,
sops_api/apigw/authentication.py): it reads no session, no session user, no flash message, and
its JSON is never framed. These four cost every call their request and response hooks, ~5 % of a
status poll in process, paid on the hottest paths for nothing. The operator pages, the admin,
Swagger UI and the schema under /apigw/ keep all four. CSRF stays on everywhere: the gateway's
views are exempt from it already, and its check is the one to never skip by path.

Each class here is Django's own, subclassed, so Django's checks of the admin's requirements
(sessions, authentication, messages) see them as what they are.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.http import HttpRequest
from django.middleware.clickjacking import XFrameOptionsMiddleware as _Framing
from django.utils.deprecation import MiddlewareMixin

GATEWAY = "/apigw/"
# Pages under the gateway's prefix that a browser opens: they keep the browser middleware.
GATEWAY_PAGES = ("/apigw/docs/", "/apigw/schema/")


def is_gateway_call(path: str) -> bool:
    """Whether `path` is one of the gateway's JSON endpoints (not a page a browser opens)."""
    return path.startswith(GATEWAY) and not path.startswith(GATEWAY_PAGES)


class _SkippedForGatewayCalls(MiddlewareMixin):
    """Mixed in before one of Django's middleware (each a MiddlewareMixin): a gateway call goes
    straight to the rest of the chain."""

    def __call__(self, request: HttpRequest) -> Any:
        if is_gateway_call(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_SkippedForGatewayCalls, _Sessions):
    pass


class AuthenticationMiddleware(_SkippedForGatewayCalls, _Authentication):
    pass


class MessageMiddleware(_SkippedForGatewayCalls, _Messages):
    pass


class XFrameOptionsMiddleware(_SkippedForGatewayCalls, _Framing):
    pass
