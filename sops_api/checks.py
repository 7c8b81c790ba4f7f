"""Refusals to run an unsafe deployment: the code's SECRET_KEY outside the embedded demo, and warnings.

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


def require_safe_deployment() -> None:
    """Raise ImproperlyConfigured when an Error-level check of this module fails (web, worker start)."""
    errors = [m for m in check_secret_key() if m.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{m.id}: {m.msg}. {m.hint}" for m in errors))
