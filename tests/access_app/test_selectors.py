"""Reads on businesses and tickets."""
from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from access_app.selectors import get_business, ticket_for_token, ticket_is_usable
from sops_common.errors import InvalidInput, NotFound

pytestmark = pytest.mark.django_db


def test_get_business_by_id_as_the_path_gives_it(gate):
    assert get_business("2") == gate.biz and get_business(2) == gate.biz
    with pytest.raises(NotFound, match=r"business\[bk_biz_id=404\] does not exist"):
        get_business("404")
    with pytest.raises(InvalidInput, match=r"bk_biz_id\[abc\] must be an integer"):
        get_business("abc")


def test_a_ticket_is_usable_unless_revoked_expired_or_someone_elses(gate):
    ticket = ticket_for_token(gate.tokens["olivia"])
    olivia, vera = (get_user_model().objects.get(username=n) for n in ("olivia", "vera"))
    assert ticket_is_usable(ticket) and ticket_is_usable(ticket, olivia)
    assert not ticket_is_usable(ticket, vera)
    assert ticket_for_token("no-such-token") is None and not ticket_is_usable(None)
    ticket.expires_at = timezone.now() - dt.timedelta(seconds=1)
    assert not ticket_is_usable(ticket)
    ticket.expires_at, ticket.revoked = None, True
    assert not ticket_is_usable(ticket)
