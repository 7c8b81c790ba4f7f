"""Application errors and the envelope codes they answer with."""
from __future__ import annotations

SUCCESS = 0
REQUEST_PARAM_INVALID = 3540000
REQUEST_FORBIDDEN_INVALID = 3540100
CONTENT_NOT_EXIST = 3540400
INVALID_OPERATION = 3545000
# The database cannot be reached (restarting, down): retry later. See db_outage.py.
SERVICE_UNAVAILABLE = 3550300
UNKNOWN_ERROR = 3599999


class ApiError(Exception):
    """Raised anywhere below a view; answered as HTTP 200 with result false."""

    code = UNKNOWN_ERROR

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    code = REQUEST_PARAM_INVALID


class Forbidden(ApiError):
    code = REQUEST_FORBIDDEN_INVALID


class NotFound(ApiError):
    code = CONTENT_NOT_EXIST


class InvalidOperation(ApiError):
    code = INVALID_OPERATION


class ServiceUnavailable(ApiError):
    code = SERVICE_UNAVAILABLE


def from_engine_error(exc: Exception) -> ApiError:
    """Translate the engine's errors (the engine does not know about envelopes)."""
    from pipeline_engine import errors as engine_errors

    if isinstance(exc, engine_errors.TreeInvalid):
        return BadRequest(exc.message)
    if isinstance(exc, engine_errors.RunNotFound | engine_errors.NodeNotFound):
        return NotFound(exc.message)
    if isinstance(exc, engine_errors.InvalidOperation):
        return InvalidOperation(exc.message)
    return ApiError(getattr(exc, "message", str(exc)))
