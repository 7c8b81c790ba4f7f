"""Operational endpoints: /healthz and /metrics."""
from __future__ import annotations

import hmac
import os
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

BROKER_TIMEOUT_SECONDS = 2.0


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 (any failure means unhealthy; the reason is reported)
        return False, f"{type(exc).__name__}: {exc}"


def _check_broker() -> tuple[bool, str]:
    from sops_api.celery import app

    try:
        with app.connection_for_write() as conn:
            # One attempt, bounded: a health check must answer quickly even
            # when the broker is gone, rather than retry for minutes.
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS)
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    db_ok, db_detail = _check_database()
    broker_ok, broker_detail = _check_broker()
    healthy = db_ok and broker_ok
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {"database": db_detail, "broker": broker_detail},
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if healthy else 503)


def _metrics_token_ok(request: HttpRequest) -> bool:
    expected = settings.SOPS_METRICS_TOKEN
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant-time: the comparison's duration says nothing about how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _metrics_token_ok(request):
        response = HttpResponse("a bearer token is required (SOPS_METRICS_TOKEN)\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Sum the files every process (web workers, Celery worker, scheduler) writes.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
