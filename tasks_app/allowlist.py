"""Which hosts a task's callback_url may reach: SOPS_HTTP_ALLOWLIST, checked at create and at delivery."""
from __future__ import annotations

from django.conf import settings


def host_allowed(host: str) -> bool:
    """`*` allows any host; `.example.com` allows its subdomains; anything else must match exactly."""
    allow = [h.lower() for h in getattr(settings, "SOPS_HTTP_ALLOWLIST", [])]
    host = host.lower()
    return "*" in allow or any(host == h or (h.startswith(".") and host.endswith(h)) for h in allow)
