"""The project's URLs: the gateway's endpoints, its OpenAPI schema and docs, the admin, health and metrics."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import docs_site, ops

urlpatterns = [
    path("admin/", admin.site.urls),
    path("apigw/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("apigw/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("apigw/", include("sops_api.apigw.urls")),
    path("docs/", docs_site.page, name="docs"),
    path("docs/<path:path>", docs_site.page, name="docs-page"),
    path("healthz", ops.healthz, name="healthz"),
    path("healthz/", ops.healthz),
    path("metrics", ops.metrics, name="metrics"),
    path("metrics/", ops.metrics),
    path("", include("pages_app.urls")),
]
