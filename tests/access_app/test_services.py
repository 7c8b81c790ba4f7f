"""Writes on apps, tickets, users, businesses and roles."""
from __future__ import annotations

import pytest

from access_app.models import App, UserTicket
from tests.support.gate import SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.sops_api.apigw.urls")]

OPERATOR_URL = "/apigw/test_operator_only/2/"
LIST_URL = "/apigw/get_template_list/2/"


def test_secrets_and_tokens_are_not_stored_in_clear(gate):
    app = App.objects.get(app_code="test-app")
    assert SECRET not in app.secret_hash and app.check_secret(SECRET)
    assert not UserTicket.objects.filter(digest=gate.tokens["olivia"]).exists()
