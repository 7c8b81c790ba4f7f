"""Admin for tasks: find them by business, state and origin; the tree is shown, never edited."""
from __future__ import annotations

import json

from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html

from . import audit
from .models import OperateSource, OperateType, TaskCallbackRecord, TaskInstance, TaskOperation


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


class OperationInline(admin.TabularInline):
    """The task's audit log, read-only: history is never edited."""

    model = TaskOperation
    extra = 0
    can_delete = False
    fields = ("operate_date", "operator", "operate_type", "operate_source", "node_id", "extra_info")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TaskInstance)
class TaskInstanceAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "business", "template", "create_method", "flow_type", "creator", "executor",
                    "is_started", "is_finished", "is_revoked", "create_time")
    list_filter = ("business", StateFilter, "create_method", "flow_type", "category", "is_deleted")
    search_fields = ("name", "creator", "executor", "=id", "=run_id")
    list_select_related = ("business", "template")
    date_hierarchy = "create_time"
    inlines = [CallbackInline, OperationInline]
    readonly_fields = ("business", "template", "template_source", "template_version", "create_method",
                       "create_info", "flow_type", "category", "run_id", "is_started", "is_finished", "is_revoked",
                       "create_time", "start_time", "finish_time", "periodic_task_id", "request_id", "tree")
    exclude = ("pipeline_tree",)

    def save_model(self, request, obj, form, change):
        # An edit here is an operation on the task like any other: it goes into the audit log,
        # in the same transaction as the change.
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and form.changed_data:
                deleted = "is_deleted" in form.changed_data and obj.is_deleted
                audit.record(task=obj, operate_type=OperateType.DELETE if deleted else OperateType.UPDATE,
                             operator=request.user.get_username(), source=OperateSource.ADMIN,
                             extra_info={"fields": {name: str(form.cleaned_data.get(name))
                                                    for name in form.changed_data}})

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
