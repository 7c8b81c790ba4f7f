from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("apigw/", include("templates_app.urls")),
    path("apigw/", include("tasks_app.urls")),
    path("apigw/", include("periodic_app.urls")),
]
