"""What an API request does when the database connection is lost: one retry, or "service unavailable".

DRF's dispatch turns every error of a request into a response. A lost
database connection must not become "3599999 unexpected error": ApigwView's
handle_exception lets it through (`let_lost_connection_through`), and
`DatabaseOutageMixin.dispatch` then

- runs the whole request once more on a fresh connection when it was lost
  before any statement of the request completed (the rule and its reasons:
  pipeline_engine/runtime/db_retry.py). That is what a request meets when
  the server restarted between Django's connection health check and the
  request's first query. It does not wait: if the server is still down the
  caller hears so at once;
- otherwise answers the envelope with result false and code 3550300
  (SERVICE_UNAVAILABLE), HTTP 200 like every application error of the
  protocol. A write cut before its COMMIT left nothing (each write is one
  transaction); one cut at its COMMIT may or may not have been applied (nobody
  can tell), so a caller reads before writing again (README, error codes).
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpResponse

from pipeline_engine.api import connection_lost, describe_db_error, retry_if_unchanged
from sops_common.errors import ServiceUnavailable

logger = logging.getLogger("sops.apigw")

MESSAGE = "service unavailable: the database cannot be reached; retry later"


def let_lost_connection_through(exc: Exception) -> None:
    """Called first by the view's handle_exception: re-raise a lost connection for dispatch to handle."""
    if isinstance(exc, DatabaseError) and connection_lost(exc):
        raise exc


class DatabaseOutageMixin:
    """Put before DRF's APIView in the bases of the API's base view."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        parent: Any = super()  # APIView, which this mixin precedes in the view's bases
        try:
            return retry_if_unchanged(lambda: parent.dispatch(request, *args, **kwargs), wait=0,
                                      label=f"request {request.method} {request.path}")
        except DatabaseError as exc:
            if not connection_lost(exc):
                raise
            logger.warning("%s %s: database unavailable: %s", request.method, request.path, describe_db_error(exc))
            return self.handle_exception(ServiceUnavailable(MESSAGE))  # type: ignore[attr-defined]  # APIView, the next base, has it
