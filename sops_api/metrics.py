"""HTTP metrics. Other apps define their own metrics next to their code.

Only counters and histograms here: they aggregate across processes in
prometheus-client's multi-process mode without a choice of gauge mode.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "sops_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"],
)
HTTP_LATENCY = Histogram(
    "sops_http_request_duration_seconds", "Time to answer an HTTP request", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
APIGW_ERRORS = Counter(
    "sops_apigw_errors_total", "apigw answers with result false, by envelope code", ["endpoint", "code"],
)


def _endpoint(request: HttpRequest) -> str:
    # The URL pattern's name, not the path: paths carry ids and would explode the label set.
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.url_name or match.view_name or "unnamed"


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = _endpoint(request)
        HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response
