"""The project's URLs plus two test-only views that fail with an unexpected error after logging
what they received (as careless code would), for the redaction test against a real gunicorn."""
from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import path

from sops_api.apigw.views import ApigwView
from sops_api.urls import urlpatterns as project_urls

logger = logging.getLogger("sops.tests.leaky")


class LeakyApiView(ApigwView):
    """Logs the parameters and headers in the message, the arguments and extra fields, then fails
    with an exception whose message quotes them too."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, bk_biz_id: str) -> HttpResponse:
        headers = dict(request.headers)
        logger.warning("received %s with headers %s", self.params, headers,
                       extra={"params": self.params, "headers": headers, "query": request.META["QUERY_STRING"]})
        raise RuntimeError(f"unexpected failure while handling {self.params} {headers}")

    post = get


def crash(request: HttpRequest) -> HttpResponse:
    """Outside the API's error handler: Django's own 500 path (django.request logs the request)."""
    raise RuntimeError(f"crash on {request.get_full_path()} with {dict(request.headers)}")


urlpatterns = [
    path("apigw/test_leaky/<str:bk_biz_id>/", LeakyApiView.as_view(), name="test_leaky"),
    path("test_crash/", crash, name="test_crash"),
    *project_urls,
]
