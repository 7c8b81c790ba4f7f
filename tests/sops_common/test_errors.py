"""Domain errors carry their message as they are given it."""
from __future__ import annotations

import pytest

from sops_common import errors


@pytest.mark.parametrize("kind", [errors.InvalidInput, errors.Forbidden, errors.NotFound, errors.InvalidOperation])
def test_every_kind_is_a_domain_error_with_its_message(kind):
    error = kind("task[id=3] does not exist")
    assert isinstance(error, errors.DomainError)
    assert error.message == str(error) == "task[id=3] does not exist"


def test_failure_reason_names_the_exception_and_is_cut_to_its_limit():
    from sops_common.errors import InvalidInput, failure_reason

    assert failure_reason(InvalidInput("template[id=3] has been deleted")) == (
        "InvalidInput: template[id=3] has been deleted")
    assert failure_reason(KeyError()) == "KeyError: KeyError"  # no message: the class stands for it
    assert failure_reason(ValueError("x" * 3000)) == "ValueError: " + "x" * 1988
    assert failure_reason(ValueError("abcdef"), limit=8) == "ValueErr"
