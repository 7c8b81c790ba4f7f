"""Create (or repair) the demo: businesses, an app, an admin with tickets, and demo templates.

Idempotent: a second run changes nothing that still works. Raw credentials
are never stored in the database, so the ones this command generates are kept
in var/demo-credentials.json (mode 0600) to be printed again on the next run;
a credential that no longer works (revoked, expired, file lost) is replaced.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.color import no_style
from django.db import connection

from access_app.models import App, Business, Role, UserTicket
from access_app.selectors import ticket_for_token, ticket_is_usable
from access_app.services import (
    bind_ticket,
    create_app,
    ensure_user,
    issue_ticket,
    reset_app_secret,
    set_member_role,
)
from sops_common.commands import OperatorCommand
from templates_app.demo import demo_templates
from templates_app.models import Template
from templates_app.services import create_template

# The spec's create_task example answers task_id 10 and its later examples use it.
FIRST_DEMO_TASK_ID = 10

DEMO_APP_CODE = "sops-demo"
ADMIN = "admin"
BUSINESSES = [(2, "blueking", "Asia/Shanghai"), (1, "demo", "Asia/Shanghai")]
DEMO_ACCESS_TOKEN_TTL = 30 * 24 * 3600
PLACEHOLDERS = {"app_code": "app_code", "app_secret": "app_secret",
                "access_token": "access_token", "bk_token": "bk_token"}

WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! DEMO ONLY: --spec-placeholders created the spec's literal credentials    !!
!!   app_code=app_code app_secret=app_secret access_token=access_token      !!
!!   bk_token=bk_token   (superuser "admin", maintainer everywhere)         !!
!! Anyone can guess them. Never run this against a reachable server.        !!
!! Remove them in the admin (disable app "app_code", revoke the tickets).   !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


def _load_saved() -> dict[str, Any]:
    try:
        data = json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(saved: dict[str, Any]) -> None:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(saved, fh, indent=2)
    tmp.replace(path)


class Command(OperatorCommand):
    help = ("Create the demo businesses (2 blueking, 1 demo), an app, a superuser with a bk_token and an "
            "access_token, and templates whose ids match the spec's examples. Safe to run again.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--spec-placeholders", action="store_true",
                            help="also create the spec's literal example credentials (DEMO ONLY)")
        parser.add_argument("--base-url", default=None, help="URL to print (default: SOPS_APP_HOST)")

    def run(self, **options: Any) -> tuple[dict, str]:
        saved = _load_saved()
        businesses = {}
        for bk_biz_id, name, tz in BUSINESSES:
            business, _ = Business.objects.get_or_create(bk_biz_id=bk_biz_id,
                                                         defaults={"name": name, "time_zone": tz})
            businesses[bk_biz_id] = business

        admin, password = self._admin(saved)
        for business in businesses.values():
            set_member_role(business=business, user=admin, role=Role.MAINTAINER)

        app, app_secret = self._app(saved)
        tokens = {kind: self._ticket(saved, admin, kind, app)
                  for kind in (UserTicket.BK_TOKEN, UserTicket.ACCESS_TOKEN)}
        if options["spec_placeholders"]:
            self._placeholders(admin)
        templates = self._templates(businesses)
        if options["spec_placeholders"]:
            self._align_task_ids()
        # Written last, inside the transaction's success path: a failed run
        # must not leave the file describing credentials that were rolled back.
        _save(saved)

        base_url = (options["base_url"] or settings.SOPS_APP_HOST).rstrip("/") + "/"
        data = {
            "base_url": base_url,
            "admin": {"username": ADMIN, "password": password, "url": f"{base_url}admin/"},
            "app_code": DEMO_APP_CODE, "app_secret": app_secret,
            "username": ADMIN, **tokens,
            "spec_placeholders": PLACEHOLDERS if options["spec_placeholders"] else None,
            "businesses": [{"bk_biz_id": b.bk_biz_id, "name": b.name, "time_zone": b.time_zone}
                           for b in businesses.values()],
            "templates": templates,
            "credentials_file": str(credentials_file()),
        }
        if options["spec_placeholders"]:
            self.stderr.write(WARNING)
        return data, self._text(data)

    # --- pieces -------------------------------------------------------------

    def _admin(self, saved: dict[str, Any]) -> tuple[Any, str | None]:
        from django.contrib.auth import get_user_model

        existing = get_user_model().objects.filter(username=ADMIN).first()
        password = saved.get("admin_password")
        if existing is not None and existing.has_usable_password() and not (
                password and existing.check_password(password)):
            # Someone set this admin's password themselves: leave it alone.
            user = ensure_user(username=ADMIN, superuser=True)
            saved.pop("admin_password", None)
            return user, None
        if existing is None or not password:
            password = secrets.token_urlsafe(12)
            user = ensure_user(username=ADMIN, superuser=True, password=password)
        else:
            user = ensure_user(username=ADMIN, superuser=True)
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
        saved["admin_password"] = password
        return user, password

    def _app(self, saved: dict[str, Any]) -> tuple[App, str]:
        app = App.objects.filter(app_code=DEMO_APP_CODE).first()
        secret = saved.get("app_secret")
        if app is None:
            app, secret = create_app(app_code=DEMO_APP_CODE, name="sops demo app")
        elif not (secret and app.check_secret(secret)):
            secret = reset_app_secret(app=app)
        if not app.enabled:
            app.enabled = True
            app.save(update_fields=["enabled"])
        saved["app_code"], saved["app_secret"] = app.app_code, secret
        return app, secret

    def _ticket(self, saved: dict[str, Any], user: Any, kind: str, app: App) -> str:
        """The saved ticket of this kind if it still works, else a new one; the access_token is the demo app's."""
        bound_to = app if kind == UserTicket.ACCESS_TOKEN else None
        raw: str | None = saved.get(kind)
        ticket = ticket_for_token(raw) if raw else None
        if raw and ticket is not None and ticket.kind == kind and ticket_is_usable(ticket, user):
            if ticket.app_id == (bound_to.pk if bound_to else None):
                return raw
            if bound_to is not None and ticket.app_id is None:
                bind_ticket(ticket=ticket, app=bound_to)  # issued before tokens were bound to apps
                return raw
        expires = DEMO_ACCESS_TOKEN_TTL if kind == UserTicket.ACCESS_TOKEN else None
        _ticket, raw = issue_ticket(user=user, kind=kind, app=bound_to, expires_in=expires)
        saved[kind] = raw
        return raw

    def _placeholders(self, admin: Any) -> None:
        app = App.objects.filter(app_code=PLACEHOLDERS["app_code"]).first()
        if app is None:
            app, _ = create_app(app_code=PLACEHOLDERS["app_code"], name="spec placeholder (demo only)",
                                secret=PLACEHOLDERS["app_secret"])
        else:
            if not app.check_secret(PLACEHOLDERS["app_secret"]):
                reset_app_secret(app=app, secret=PLACEHOLDERS["app_secret"])
            if not app.enabled:
                app.enabled = True
                app.save(update_fields=["enabled"])
        for kind in (UserTicket.ACCESS_TOKEN, UserTicket.BK_TOKEN):
            raw = PLACEHOLDERS[kind]
            # The placeholder access_token is the placeholder app's: the spec's examples send the two
            # together, and bkapi-client-core sends the token alone.
            bound_to = app if kind == UserTicket.ACCESS_TOKEN else None
            ticket = ticket_for_token(raw)
            if ticket is None:
                ticket, _ = issue_ticket(user=admin, kind=kind, app=bound_to, raw=raw)
            # The spec's examples must keep working: no expiry, not revoked.
            ticket.user, ticket.kind, ticket.app, ticket.expires_at, ticket.revoked = admin, kind, bound_to, None, False
            ticket.save()

    def _templates(self, businesses: dict[int, Business]) -> list[dict[str, Any]]:
        out = []
        created_any = False
        for demo in demo_templates():
            business = businesses.get(demo.bk_biz_id) if demo.bk_biz_id else None
            existing = Template.objects.filter(pk=demo.pk).first()
            status = "kept"
            if existing is None:
                create_template(pk=demo.pk, name=demo.name, pipeline_tree=demo.tree, creator=ADMIN,
                                business=business, category=demo.category, description=demo.description)
                status, created_any = "created", True
            elif existing.name != demo.name or existing.business_id != (business.pk if business else None):
                status = "id taken by another template, left alone"
            out.append({"id": demo.pk, "name": demo.name, "bk_biz_id": demo.bk_biz_id,
                        "source": "business" if business else "common", "status": status})
        if created_any:
            self._reset_sequences()
        return out

    @staticmethod
    def _reset_sequences() -> None:
        """Explicit ids leave PostgreSQL's sequence behind; move it past them so later inserts don't collide."""
        statements = connection.ops.sequence_reset_sql(no_style(), [Template])
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    @staticmethod
    def _align_task_ids(first_id: int = FIRST_DEMO_TASK_ID) -> None:
        """On an empty task table, make the first task id 10.

        The spec's create_task example answers task_id 10, and its start_task,
        operate_task, get_task_status and get_task_detail examples then address
        task 10: with this, replaying them in order works on the demo as written.
        The task model is looked up through the app registry: templates_app sits
        below tasks_app and does not import it.
        """
        from django.apps import apps

        if not apps.is_installed("tasks_app"):
            return
        model = apps.get_model("tasks_app", "TaskInstance")
        if model.objects.exists():
            return
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, first_id])
            elif connection.vendor == "sqlite":
                cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, first_id - 1])

    @staticmethod
    def _text(data: dict[str, Any]) -> str:
        base = data["base_url"]
        lines = [
            "sops demo is ready",
            f"  base URL:      {base}",
            f"  admin site:    {data['admin']['url']}  user {ADMIN} / "
            f"{data['admin']['password'] or '(password unchanged)'}",
            f"  app_code:      {data['app_code']}",
            f"  app_secret:    {data['app_secret']}",
            f"  bk_token:      {data['bk_token']}   (user {ADMIN}; with any app's code and secret)",
            f"  access_token:  {data['access_token']}   (user {ADMIN}, app {data['app_code']}; works alone)",
        ]
        if data["spec_placeholders"]:
            lines.append("  spec examples: app_code=app_code app_secret=app_secret "
                         "access_token=access_token bk_token=bk_token  (DEMO ONLY)")
        lines.append("  businesses:    " + ", ".join(f"{b['bk_biz_id']} {b['name']}" for b in data["businesses"]))
        lines.append("  templates:")
        for t in data["templates"]:
            where = f"business {t['bk_biz_id']}" if t["bk_biz_id"] else "common"
            lines.append(f"    {t['id']:>4}  {where:<11} {t['name']}  [{t['status']}]")
        lines.append("  try:")
        lines.append(f"    curl '{base}apigw/get_template_list/2/?app_code={data['app_code']}"
                     f"&app_secret={data['app_secret']}&bk_token={data['bk_token']}'")
        lines.append(f"    curl -H 'X-Bkapi-Authorization: {{\"access_token\": \"{data['access_token']}\"}}' "
                     f"'{base}apigw/get_template_list/2/'")
        lines.append(f"  (credentials also in {data['credentials_file']})")
        return "\n".join(lines)
