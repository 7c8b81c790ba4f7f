"""The demo's data (businesses 1 and 2, templates, the spec's placeholder credentials) for tests that
call the API as an outside caller would."""
from __future__ import annotations

import io
from typing import Any

from django.core.management import call_command

# bootstrap_demo --spec-placeholders: a superuser, maintainer of businesses 1 and 2.
CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
BIZ = 2
TEMPLATE = 1  # a business template of business 2 in the demo


def bootstrap(settings: Any, tmp_path: Any) -> None:
    settings.VAR_DIR = tmp_path
    # The demo's admin password and app secrets are hashed; the production hasher costs ~0.5 s a call.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("bootstrap_demo", "--spec-placeholders", stdout=io.StringIO(), stderr=io.StringIO())
