"""Domain errors carry their message as they are given it."""
from __future__ import annotations

import pytest

from sops_common import errors


@pytest.mark.parametrize("kind", [errors.InvalidInput, errors.Forbidden, errors.NotFound, errors.InvalidOperation])
def test_every_kind_is_a_domain_error_with_its_message(kind):
    error = kind("task[id=3] does not exist")
    assert isinstance(error, errors.DomainError)
    assert error.message == str(error) == "task[id=3] does not exist"
