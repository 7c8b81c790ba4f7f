"""Refusals to run an unsafe deployment: the code's SECRET_KEY outside the embedded demo, and warnings
(among them a database check: a PostgreSQL server without autovacuum).

Registered as Django system checks (every manage.py command, `check --deploy`
included, runs them) and enforced at the start of the two processes that run
no checks of their own: the web server (wsgi.py) and the Celery worker
(celery.py's worker_init). What "embedded demo" means is in settings.py.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

MIN_SECRET_KEY_CHARS = 32


@checks.register(checks.Tags.security)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SOPS_DEMO:
        return []
    key = settings.SECRET_KEY or ""
    if key == settings.INSECURE_SECRET_KEY or len(key) < MIN_SECRET_KEY_CHARS:
        return [checks.Error(
            "SECRET_KEY is unset (the code's own key is in use) or shorter than "
            f"{MIN_SECRET_KEY_CHARS} characters, outside the embedded demo",
            hint="Set SECRET_KEY to a long random value, e.g. "
                 "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, the same for the web "
                 "server, the worker and the scheduler. Only the embedded demo (no DATABASE_URL and no "
                 "CELERY_BROKER_URL, or SOPS_DEMO=1) generates one into var/secret_key.",
            id="sops.E001")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    if "*" in settings.ALLOWED_HOSTS:
        found.append(checks.Warning(
            "ALLOWED_HOSTS contains '*': any Host header is answered",
            hint="List the names the service is reached by (ALLOWED_HOSTS=api.example.com), "
                 "or keep '*' only behind a proxy that checks Host itself.", id="sops.W001"))
    if not settings.SOPS_DEMO and not settings.SOPS_METRICS_TOKEN:
        found.append(checks.Warning(
            "/metrics is open to anyone who reaches the port (SOPS_METRICS_TOKEN is unset)",
            hint="Set SOPS_METRICS_TOKEN and give Prometheus the same bearer token.", id="sops.W002"))
    return found


@checks.register(checks.Tags.database)
def check_statistics(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A warning per PostgreSQL database whose server runs no autovacuum (`check --database
    default`, and every `migrate`): nothing then gathers the planner's statistics."""
    found: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            (setting,) = cursor.fetchone()
        found.extend(statistics_warnings(alias, setting))
    return found


def statistics_warnings(alias: str, autovacuum: str) -> list[checks.CheckMessage]:
    """The warning for a server whose `autovacuum` setting is `autovacuum` (none when it is on)."""
    if autovacuum == "on":
        return []
    return [checks.Warning(
        f"autovacuum is off on the PostgreSQL server of database {alias!r}: no statistics are gathered, "
        "so the planner guesses, and may scan whole tables where an index would do",
        hint="Turn it on (autovacuum = on in postgresql.conf; it is the default), or run "
             "`vacuumdb --analyze-only` on the database regularly, and after bulk loads. The engine's "
             "and the gateway's hot reads are written to need no statistics (docs/architecture.md); "
             "the admin's lists and the task counts are not.",
        id="sops.W003")]


def require_safe_deployment() -> None:
    """Raise ImproperlyConfigured when an Error-level check of this module fails (web, worker start)."""
    errors = [m for m in check_secret_key() if m.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{m.id}: {m.msg}. {m.hint}" for m in errors))
