"""Admin for clocked tasks: plans are read here; they are made through the API."""
from __future__ import annotations

from django.contrib import admin

from sops_common.admin import ReadOnlyAdminMixin

from .models import ClockedTask


@admin.register(ClockedTask)
class ClockedTaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "task_name", "business", "template", "plan_start_time", "state", "task_id", "fired_at",
                    "creator"]
    list_display_links = ["id", "task_name"]
    list_filter = ["state", "business"]
    search_fields = ["task_name", "creator", "=id", "=task_id"]
    list_select_related = ["business", "template"]
    date_hierarchy = "plan_start_time"
