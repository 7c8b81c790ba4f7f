"""create_app: a working secret shown once, explicit secrets, --reset-secret."""
from __future__ import annotations

import pytest
from django.core.management import CommandError

from access_app.models import App
from tests.support.commands import run, run_json

pytestmark = pytest.mark.django_db


def test_create_app_prints_a_working_secret():
    data = run_json("create_app", "--app-code", "my-app", "--name", "Mine")
    app = App.objects.get(app_code="my-app")
    assert app.name == "Mine" and app.enabled
    assert app.check_secret(data["app_secret"]) and data["app_secret"] not in app.secret_hash


def test_create_app_with_explicit_secret_and_reset():
    run("create_app", "--app-code", "my-app", "--secret", "chosen")
    assert App.objects.get(app_code="my-app").check_secret("chosen")
    with pytest.raises(CommandError, match="already exists"):
        run("create_app", "--app-code", "my-app")
    data = run_json("create_app", "--app-code", "my-app", "--reset-secret")
    app = App.objects.get(app_code="my-app")
    assert app.check_secret(data["app_secret"]) and not app.check_secret("chosen")


def test_create_app_human_text_shows_secret_once():
    text = run("create_app", "--app-code", "shown")
    assert "app_secret:" in text and "shown only now" in text
