"""Trusted and limited apps."""
from __future__ import annotations

import pytest

from access_app.models import App
from access_app.trust import DEFAULT_APP_WHITELIST, is_limited, is_trusted, require_trusted
from sops_common.errors import Forbidden


def test_the_original_defaults_and_the_setting(settings):
    settings.APP_WHITELIST = ["mine"]
    assert all(is_trusted(App(app_code=code)) for code in DEFAULT_APP_WHITELIST)
    assert is_trusted(App(app_code="mine")) and not is_trusted(App(app_code="other"))


def test_limited_apps_only_where_asked(settings):
    settings.BKAPP_ALLOWED_LIMITED_API_APPS = ["lim"]
    app = App(app_code="lim")
    assert is_limited(app) and not is_trusted(app)
    require_trusted(app, limited_too=True)
    with pytest.raises(Forbidden, match="you have no permission to call this api."):
        require_trusted(app)
