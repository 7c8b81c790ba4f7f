"""The base every /apigw/ endpoint stands on.

A subclass declares its methods, the role it needs in the business, and a
handler that calls one service or selector. Everything else — reading the
parameters in the spec's three styles, authenticating the app and the user,
loading the business from the path, checking the role, and answering errors in
the envelope — happens here once.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.views import APIView

from pipeline_engine.errors import EngineError
from sops_api import logs
from sops_api.metrics import APIGW_ERRORS
from templates_app.models import Business, Role

from . import auth, limits
from .envelope import fail
from .errors import REQUEST_PARAM_INVALID, UNKNOWN_ERROR, ApiError, BadRequest, from_engine_error
from .params import read_params, read_query_params
from .schema import ApigwAutoSchema

logger = logging.getLogger("sops.apigw")


class ApigwView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    # Bodies are read by `read_params`, which accepts JSON without a content type.
    parser_classes: list = []
    required_role: str = Role.VIEWER
    #: the path keyword naming the business; None for endpoints without one
    business_kwarg: str | None = "bk_biz_id"
    #: when True an unreadable body does not stop the request at once: the query string's
    #: parameters are used and the error waits in `body_error` for the view to raise when
    #: it chooses (create_periodic_task reports a missing template first, as the original)
    defer_body_errors: bool = False
    body_error: BadRequest | None = None
    # Documents credentials and the envelope for every endpoint (see schema.py).
    schema = ApigwAutoSchema()

    params: dict[str, Any]
    caller: auth.Caller
    business: Business

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        if request.method.lower() not in self.http_method_names:
            # A wrong method is answered 405 before credentials are even read.
            raise drf_exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)
        raw: HttpRequest = request._request
        try:
            self.params = read_params(raw)
        except BadRequest as exc:
            if not self.defer_body_errors:
                raise
            self.body_error = exc
            self.params = read_query_params(raw)
        self.caller = auth.authenticate(raw, self.params)
        logs.bind(app_code=self.caller.app.app_code, user=self.caller.user.get_username())
        if self.business_kwarg:
            biz = kwargs.get(self.business_kwarg, self.params.get(self.business_kwarg))
            self.business = auth.load_business(biz)
            auth.authorize(self.caller, self.business, self.required_role)

    @property
    def username(self) -> str:
        return self.caller.user.get_username()

    def handle_exception(self, exc: Exception) -> JsonResponse:
        response = self._error_response(exc)
        match = getattr(self.request, "resolver_match", None)
        code = getattr(response, "envelope_code", UNKNOWN_ERROR)
        APIGW_ERRORS.labels(match.url_name if match else "unmatched", str(code)).inc()
        return response

    def _error_response(self, exc: Exception) -> JsonResponse:
        if isinstance(exc, ApiError):
            return fail(exc.message, exc.code)
        if isinstance(exc, EngineError):
            err = from_engine_error(exc)
            return fail(err.message, err.code)
        if isinstance(exc, drf_exceptions.MethodNotAllowed):
            return fail(f"method {self.request.method} is not allowed for this endpoint",
                        REQUEST_PARAM_INVALID, status=405)
        if isinstance(exc, RecursionError):
            # Input nested past what the code walking it can follow; the request's own limits
            # (limits.py) should refuse it first, so say so in the log.
            logger.warning("request nested too deeply in %s", self.__class__.__name__, exc_info=True)
            return fail("the request is nested too deeply to process", REQUEST_PARAM_INVALID)
        if isinstance(exc, SuspiciousOperation):
            # Django refused to parse the request (too many fields, a body too large) before
            # read_params ran, e.g. while DRF negotiated the content type.
            err = limits.refusal_for(exc)
            return fail(err.message, err.code)
        if isinstance(exc, drf_exceptions.APIException):
            return fail(str(exc.detail), REQUEST_PARAM_INVALID, status=exc.status_code)
        logger.exception("unexpected error in %s", self.__class__.__name__)
        return fail("unexpected error, the incident has been logged", UNKNOWN_ERROR)
