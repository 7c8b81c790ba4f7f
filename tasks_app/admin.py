"""Admin for tasks: find them by business, state and origin; the tree is shown, never edited."""
from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import TaskCallbackRecord, TaskInstance


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("created", "not started"), ("executing", "executing"), ("finished", "finished"),
                ("revoked", "revoked")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "created":
            return queryset.filter(is_started=False)
        if value == "executing":
            return queryset.filter(is_started=True, is_finished=False)
        if value == "finished":
            return queryset.filter(is_finished=True, is_revoked=False)
        if value == "revoked":
            return queryset.filter(is_revoked=True)
        return queryset


class CallbackInline(admin.TabularInline):
    model = TaskCallbackRecord
    extra = 0
    can_delete = False
    fields = ("state", "url", "status", "attempts", "last_status_code", "last_error", "updated_at")
    readonly_fields = fields


@admin.register(TaskInstance)
class TaskInstanceAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "business", "template", "create_method", "flow_type", "creator", "executor",
                    "is_started", "is_finished", "is_revoked", "create_time")
    list_filter = ("business", StateFilter, "create_method", "flow_type", "category", "is_deleted")
    search_fields = ("name", "creator", "executor", "=id", "=run_id")
    list_select_related = ("business", "template")
    date_hierarchy = "create_time"
    inlines = [CallbackInline]
    readonly_fields = ("business", "template", "template_source", "template_version", "create_method",
                       "create_info", "flow_type", "category", "run_id", "is_started", "is_finished", "is_revoked",
                       "create_time", "start_time", "finish_time", "periodic_task_id", "request_id", "tree")
    exclude = ("pipeline_tree",)

    @admin.display(description="pipeline tree")
    def tree(self, obj: TaskInstance) -> str:
        return format_html("<pre style='max-height:40em;overflow:auto'>{}</pre>",
                           json.dumps(obj.pipeline_tree, indent=2, ensure_ascii=False))


@admin.register(TaskCallbackRecord)
class TaskCallbackRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "state", "url", "status", "attempts", "resends", "last_status_code",
                    "next_attempt_at", "updated_at")
    list_filter = ("status", "state")
    search_fields = ("url", "=task__id")
    readonly_fields = ("task", "url", "state", "payload", "status", "attempts", "resends", "last_status_code",
                       "last_error", "next_attempt_at", "created_at", "updated_at")
