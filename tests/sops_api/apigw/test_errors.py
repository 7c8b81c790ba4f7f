"""The one table that maps domain and engine errors to envelope codes."""
from __future__ import annotations

import pytest

from pipeline_engine import errors as engine
from sops_api.apigw.errors import (
    CONTENT_NOT_EXIST,
    INVALID_OPERATION,
    KNOWN_ERRORS,
    REQUEST_FORBIDDEN_INVALID,
    REQUEST_PARAM_INVALID,
    UNKNOWN_ERROR,
    envelope_code,
)
from sops_common import errors as domain


@pytest.mark.parametrize(("error", "code"), [
    (domain.InvalidInput("x"), REQUEST_PARAM_INVALID),
    (domain.Forbidden("x"), REQUEST_FORBIDDEN_INVALID),
    (domain.NotFound("x"), CONTENT_NOT_EXIST),
    (domain.InvalidOperation("x"), INVALID_OPERATION),
    (engine.TreeInvalid("x"), REQUEST_PARAM_INVALID),
    (engine.RunNotFound("x"), CONTENT_NOT_EXIST),
    (engine.NodeNotFound("x"), CONTENT_NOT_EXIST),
    (engine.InvalidOperation("x"), INVALID_OPERATION),
])
def test_each_kind_has_its_code(error, code):
    assert envelope_code(error) == code
    assert isinstance(error, KNOWN_ERRORS)


def test_a_subclass_answers_its_parents_code():
    class TemplateMissing(domain.NotFound):
        pass

    assert envelope_code(TemplateMissing("x")) == CONTENT_NOT_EXIST


@pytest.mark.parametrize("error", [domain.DomainError("x"), engine.EngineError("x"), ValueError("x"),
                                   KeyError("x")])
def test_anything_else_is_unknown(error):
    assert envelope_code(error) == UNKNOWN_ERROR
