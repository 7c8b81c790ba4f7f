"""Which apps are trusted (may import templates) and which are limited (may import into a business).

The original keeps a whitelist of app codes (`DEFAULT_APP_WHITELIST` plus the `APP_WHITELIST`
environment variable, gcloud/apigw/whitelist.py); sops reads the same two sources, so a
deployment moving over keeps its list. Trust here only opens the import endpoints: it never
replaces the user's role in a business (see docs/differences.md).
"""
from __future__ import annotations

from django.conf import settings

from sops_common.errors import Forbidden

from .models import App

#: the original's defaults (reference-behaviour.md §0, "Trusted apps, newest version")
DEFAULT_APP_WHITELIST = frozenset({"bk_fta", "bk_bcs", "bk_datainstaller", "bk_dataadmin", "bk_sops", "bk_paas",
                                   "bk_monitorv3"})


def trusted_app_codes() -> frozenset[str]:
    """The defaults and the `APP_WHITELIST` setting's codes."""
    return DEFAULT_APP_WHITELIST | frozenset(settings.APP_WHITELIST)


def is_trusted(app: App) -> bool:
    return app.app_code in trusted_app_codes()


def is_limited(app: App) -> bool:
    """Named in `BKAPP_ALLOWED_LIMITED_API_APPS`: may import into a business where its user may."""
    return app.app_code in frozenset(settings.BKAPP_ALLOWED_LIMITED_API_APPS)


def require_trusted(app: App, *, limited_too: bool = False) -> None:
    """Forbidden, in the original's words, unless the app is trusted (or, with `limited_too`, limited)."""
    if is_trusted(app) or (limited_too and is_limited(app)):
        return
    raise Forbidden("you have no permission to call this api.")
