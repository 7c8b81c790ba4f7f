"""The base every /apigw/ endpoint stands on.

A subclass declares its methods, the role it needs in the business, its input
and output (serializers/<module>.py), and a handler that calls one service or
selector. The rest is DRF's plumbing, in classes of one job each: parameters
are read in the spec's styles (params.py), the app and the user are
authenticated (authentication.py), the role in the business of the path is
checked (permissions.py), the input serializer validates the parameters
(`self.input`), and errors are answered in the envelope with the code errors.py
gives them. The same declarations make the OpenAPI document (schema.py).

    class OperateTaskView(ApigwView):
        http_method_names = ["post"]
        required_role = Role.OPERATOR
        input_serializer = tasks.OperateTaskInput      # validated before the handler runs
        output_serializer = tasks.OPERATE_TASK_DATA    # documents `data`

        @extend_schema(summary="start | pause | resume | revoke a task", tags=TAGS)
        def post(self, request, task_id, bk_biz_id):
            services.operate_task(task=..., action=self.input["action"], username=self.username, source="api")
            return ok({})
"""
from __future__ import annotations

import logging
from functools import cached_property
from typing import Any, cast

from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from access_app.authentication import Caller
from access_app.models import Business, Role
from access_app.selectors import get_business
from sops_api.metrics import APIGW_ERRORS
from sops_common import limits
from sops_common.errors import InvalidInput

from .authentication import AppAndUserAuthentication
from .db_outage import DatabaseOutageMixin, let_lost_connection_through
from .envelope import fail
from .errors import KNOWN_ERRORS, REQUEST_PARAM_INVALID, UNKNOWN_ERROR, envelope_code
from .params import request_params
from .permissions import HasBusinessRole
from .schema import ApigwAutoSchema
from .serializers.base import Input

logger = logging.getLogger("sops.apigw")
_JSON_RENDERING = (JSONRenderer(), "application/json")


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
    #: the parameters the handler reads (query string and body merged), validated into `self.input`
    input_serializer: type[Input] | None = None
    #: what `data` holds on success: a serializer (instance or class; `many=True` for a list) or a JSON
    #: schema; it documents the answer (schemathesis holds the answers to it), it does not render it
    output_serializer: type[serializers.Serializer] | serializers.Field | dict[str, Any] | None = None
    #: JSON schemas of keys the envelope has beside `data` on this endpoint (get_task_list's `count`)
    envelope_extra: dict[str, Any] | None = None
    #: False: the handler looks its object up first and reading `self.input` validates then (where the
    #: original reports a missing task or template before a bad parameter)
    validate_input_first: bool = True
    #: what a path id names, where it is not what schema.PATH_PARAMETERS says (`task_id` of a periodic task)
    path_help: dict[str, str] = {}
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
        self._check_path_ids(kwargs)
        if self.validate_input_first:
            self.input  # noqa: B018 - validates now, so a bad parameter is refused before any work

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        """Every answer is the JSON envelope, whatever the Accept header says, as the original's
        views answer. DRF's negotiation would only choose a renderer no handler uses, or refuse
        an Accept without JSON in it with 406, at a cost on every request."""
        return _JSON_RENDERING

    def _check_path_ids(self, kwargs: dict[str, Any]) -> None:
        """A path id out of range is a bad parameter, whatever the endpoint checks next.

        One that is not a number at all is left to the endpoint's lookup: some answer
        "does not exist" for it, as the original does.
        """
        for name, value in kwargs.items():
            if name.endswith("_id") and name != self.business_kwarg:
                try:
                    limits.parse_id(value, name)
                except limits.NotAnInteger:
                    pass

    @cached_property
    def input(self) -> dict[str, Any]:
        """The parameters, validated by `input_serializer` (a deferred body error is raised first)."""
        if self.body_error is not None:
            raise self.body_error
        if self.input_serializer is None:
            return {}
        return self.input_serializer.parse(self.params)

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
        if isinstance(exc, RecursionError):
            # Input nested past what the code walking it can follow; the request's own limits
            # (limits.py) should refuse it first, so say so in the log.
            logger.warning("request nested too deeply in %s", self.__class__.__name__, exc_info=True)
            return fail("the request is nested too deeply to process", REQUEST_PARAM_INVALID)
        if isinstance(exc, SuspiciousOperation):
            # Django refused to parse the request (too many fields, a body too large) before
            # read_params ran, e.g. while DRF negotiated the content type.
            return fail(limits.refusal_for(exc).message, REQUEST_PARAM_INVALID)
        if isinstance(exc, drf_exceptions.APIException):
            return fail(str(exc.detail), REQUEST_PARAM_INVALID, status=exc.status_code)
        logger.exception("unexpected error in %s", self.__class__.__name__)
        return fail("unexpected error, the incident has been logged", UNKNOWN_ERROR)
