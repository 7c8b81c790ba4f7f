"""DRF permission of /apigw/ calls: the caller's role in the business of the path."""
from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from access_app.authorization import authorize


class HasBusinessRole(BasePermission):
    """The user's role in the view's business reaches the view's `required_role`.

    Views without a business (`business_kwarg = None`) need none. The role found
    is kept on the caller (`view.caller.role`, the Caller that authentication put in `request.auth`).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not view.business_kwarg:
            return True
        view.caller.role = authorize(view.caller.user, view.business, view.required_role)
        return True
