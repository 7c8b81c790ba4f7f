"""Which hosts a callback_url may reach."""
from __future__ import annotations

import pytest

from tasks_app.allowlist import host_allowed


@pytest.mark.parametrize(("allow", "host", "allowed"), [
    (["127.0.0.1", "localhost"], "127.0.0.1", True),
    (["127.0.0.1", "localhost"], "LOCALHOST", True),
    (["127.0.0.1", "localhost"], "10.0.0.1", False),
    ([".example.com"], "api.example.com", True),
    ([".example.com"], "evilexample.com", False),
    (["example.com"], "api.example.com", False),
    (["*"], "anything.at.all", True),
    ([], "127.0.0.1", False),
])
def test_host_allowed(settings, allow, host, allowed):
    settings.SOPS_HTTP_ALLOWLIST = allow
    assert host_allowed(host) is allowed
