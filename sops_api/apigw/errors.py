"""Envelope codes, and the one table that maps domain and engine errors to them.

Nothing below the API layer knows about envelope codes: services raise the
domain errors of sops_common.errors, the engine its own (pipeline_engine.errors),
and `envelope_code` answers which code each kind means.
"""
from __future__ import annotations

from pipeline_engine import errors as engine_errors
from sops_common import errors as domain

SUCCESS = 0
REQUEST_PARAM_INVALID = 3540000
REQUEST_FORBIDDEN_INVALID = 3540100
CONTENT_NOT_EXIST = 3540400
INVALID_OPERATION = 3545000
# The database cannot be reached (restarting, down): retry later. See db_outage.py.
SERVICE_UNAVAILABLE = 3550300
UNKNOWN_ERROR = 3599999

# Looked up along the error's class hierarchy, so a subclass answers its parent's code.
ERROR_CODES: dict[type[Exception], int] = {
    domain.InvalidInput: REQUEST_PARAM_INVALID,
    domain.Forbidden: REQUEST_FORBIDDEN_INVALID,
    domain.NotFound: CONTENT_NOT_EXIST,
    domain.InvalidOperation: INVALID_OPERATION,
    domain.ServiceUnavailable: SERVICE_UNAVAILABLE,
    engine_errors.TreeInvalid: REQUEST_PARAM_INVALID,
    engine_errors.RunNotFound: CONTENT_NOT_EXIST,
    engine_errors.NodeNotFound: CONTENT_NOT_EXIST,
    engine_errors.InvalidOperation: INVALID_OPERATION,
}

#: errors whose message is safe to show the caller; anything else is logged and answered vaguely
KNOWN_ERRORS = (domain.DomainError, engine_errors.EngineError)


def envelope_code(exc: Exception) -> int:
    """The envelope code of a domain or engine error; UNKNOWN_ERROR for any other."""
    for cls in type(exc).__mro__:
        code = ERROR_CODES.get(cls)
        if code is not None:
            return code
    return UNKNOWN_ERROR
