"""Register an app that may call /apigw/ (prints its secret once)."""
from __future__ import annotations

from typing import Any

from access_app.models import App
from access_app.services import create_app, reset_app_secret
from sops_common.commands import OperatorCommand
from sops_common.errors import InvalidInput


class Command(OperatorCommand):
    help = "Register an API app and print its secret (shown once; only a hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--app-code", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--secret", default=None, help="use this secret instead of a generated one")
        parser.add_argument("--reset-secret", action="store_true",
                            help="if the app exists, give it a new secret instead of failing")

    def run(self, **options: Any) -> tuple[dict, str]:
        code = options["app_code"]
        existing = App.objects.filter(app_code=code).first()
        if existing is not None:
            if not options["reset_secret"]:
                raise InvalidInput(f"app[{code}] already exists; pass --reset-secret to give it a new secret")
            secret = reset_app_secret(app=existing, secret=options["secret"])
            app, action = existing, "secret reset"
        else:
            app, secret = create_app(app_code=code, name=options["name"], secret=options["secret"])
            action = "created"
        data = {"app_code": app.app_code, "app_secret": secret, "name": app.name, "enabled": app.enabled}
        text = (f"app {app.app_code} {action}\n"
                f"  app_code:   {app.app_code}\n"
                f"  app_secret: {secret}\n"
                "The secret is shown only now; only its hash is stored.")
        return data, text
