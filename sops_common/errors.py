"""Domain errors: what went wrong, in the domain's words, with no HTTP and no Django.

Services, selectors and the engine's callers raise these. The API layer maps each
kind to an envelope code in one table (sops_api/apigw/errors.py); operator
commands turn them into a one-line error (sops_common/commands.py).
"""
from __future__ import annotations


class DomainError(Exception):
    """Base of every domain error; `message` is shown to the caller as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """A parameter, a document or a tree is malformed or breaks a rule."""


class Forbidden(DomainError):
    """The caller may not do this: credentials refused, or a role too low for the business."""


class NotFound(DomainError):
    """The thing named does not exist (or is outside the caller's business)."""


class InvalidOperation(DomainError):
    """The operation exists but the current state does not allow it (already started, not started...)."""


class ServiceUnavailable(DomainError):
    """A backing service (the database) cannot be reached right now; the caller may retry later."""


def failure_reason(exc: BaseException, limit: int = 2000) -> str:
    """`<ExceptionClass>: <message>`, cut to `limit`: why a scheduled firing failed, as a history row keeps it."""
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {message}"[:limit]

