"""Errors the engine raises through its public API."""


class EngineError(Exception):
    """Base of every error the engine's public API raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TreeInvalid(EngineError):
    """The pipeline tree breaks a structural or reference rule."""


class ExpansionExceeded(TreeInvalid):
    """A tree with more nodes or deeper SubProcesses than the expansion budget allows (core/expansion.py)."""


class RunNotFound(EngineError):
    """No run with that id."""


class NodeNotFound(EngineError):
    """The run has no node with that id."""


class InvalidOperation(EngineError):
    """The operation is not allowed in the current state."""
