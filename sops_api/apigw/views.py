"""The base every /apigw/ endpoint stands on.

A subclass declares its methods, the role it needs in the business, and a
handler that calls one service or selector. The rest is DRF's plumbing, in
classes of one job each: parameters are read in the spec's three styles
(params.py), the app and the user are authenticated (authentication.py), the
role in the business of the path is checked (permissions.py), and errors are
answered in the envelope with the code errors.py gives them.
"""
from __future__ import annotations

import logging
from functools import cached_property
from typing import Any, cast

from django.http import JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from access_app.authentication import Caller
from access_app.models import Business, Role
from access_app.selectors import get_business
from sops_api.metrics import APIGW_ERRORS
from sops_common.errors import InvalidInput

from .authentication import AppAndUserAuthentication
from .db_outage import DatabaseOutageMixin, let_lost_connection_through
from .envelope import fail
from .errors import KNOWN_ERRORS, REQUEST_PARAM_INVALID, UNKNOWN_ERROR, envelope_code
from .params import request_params
from .permissions import HasBusinessRole
from .schema import ApigwAutoSchema

logger = logging.getLogger("sops.apigw")


class ApigwView(DatabaseOutageMixin, APIView):
    authentication_classes = [AppAndUserAuthentication]
    permission_classes = [HasBusinessRole]
    # Bodies are read by params.py, which accepts JSON without a content type.
    parser_classes: list = []
    required_role: str = Role.VIEWER
    #: the path keyword naming the business; None for endpoints without one
    business_kwarg: str | None = "bk_biz_id"
    #: when True an unreadable body does not stop the request at once: the query string's
    #: parameters are used and the error waits in `body_error` for the view to raise when
    #: it chooses (create_periodic_task reports a missing template first, as the original)
    defer_body_errors: bool = False
    body_error: InvalidInput | None = None
    # Documents credentials and the envelope for every endpoint (see schema.py).
    schema = ApigwAutoSchema()

    params: dict[str, Any]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = request.method or ""
        if method.lower() not in self.http_method_names:
            # A wrong method is answered 405 before credentials are even read.
            raise drf_exceptions.MethodNotAllowed(method)
        read = request_params(request._request)
        if read.body_error is not None and not self.defer_body_errors:
            raise read.body_error
        self.params, self.body_error = read.values, read.body_error
        super().initial(request, *args, **kwargs)  # authentication, then permissions

    @cached_property
    def business(self) -> Business:
        """The business the path (or, failing that, a parameter) names."""
        assert self.business_kwarg, f"{type(self).__name__} has no business"
        return get_business(self.kwargs.get(self.business_kwarg, self.params.get(self.business_kwarg)))

    @property
    def caller(self) -> Caller:
        """The app and user that authentication found (request.auth)."""
        return cast(Caller, self.request.auth)

    @property
    def username(self) -> str:
        return self.caller.user.get_username()

    def handle_exception(self, exc: Exception) -> JsonResponse:  # type: ignore[override]  # DRF says Response; finalize_response takes any HttpResponseBase
        let_lost_connection_through(exc)  # retried or answered "unavailable" by DatabaseOutageMixin
        response = self._error_response(exc)
        match = getattr(self.request, "resolver_match", None)
        code = getattr(response, "envelope_code", UNKNOWN_ERROR)
        APIGW_ERRORS.labels(match.url_name if match else "unmatched", str(code)).inc()
        return response

    def _error_response(self, exc: Exception) -> JsonResponse:
        if isinstance(exc, KNOWN_ERRORS):
            return fail(exc.message, envelope_code(exc))
        if isinstance(exc, drf_exceptions.MethodNotAllowed):
            return fail(f"method {self.request.method} is not allowed for this endpoint",
                        REQUEST_PARAM_INVALID, status=405)
        if isinstance(exc, drf_exceptions.APIException):
            return fail(str(exc.detail), REQUEST_PARAM_INVALID, status=exc.status_code)
        logger.exception("unexpected error in %s", self.__class__.__name__)
        return fail("unexpected error, the incident has been logged", UNKNOWN_ERROR)
