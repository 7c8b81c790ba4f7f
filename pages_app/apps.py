"""The pages app's configuration: it links the admin to the pages."""
from __future__ import annotations

from django.apps import AppConfig


class PagesAppConfig(AppConfig):
    name = "pages_app"
    verbose_name = "Operator pages"

    def ready(self) -> None:
        from django.contrib import admin
        from django.urls import reverse_lazy

        # The admin's "View site" link (on every admin page) opens the task list.
        admin.site.site_url = reverse_lazy("pages:task_list")  # type: ignore[assignment]  # a lazy str is resolved per request
