from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from sops_common.admin import ReadOnlyAdminMixin

from . import services
from .cron import CronError, parse_cron
from .models import PeriodicTask, PeriodicTaskHistory


class PeriodicTaskForm(forms.ModelForm):
    class Meta:
        model = PeriodicTask
        fields = ("business", "template", "template_source", "name", "creator", "editor", "minute", "hour",
                  "day_of_week", "day_of_month", "month_of_year", "enabled", "overlap_policy", "pipeline_tree")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            parse_cron({name: data.get(name) or "*" for name in
                        ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")})
        except CronError as exc:
            field = exc.field if exc.field in self.fields else None
            raise forms.ValidationError({field: str(exc)} if field else str(exc)) from exc
        return data


class HistoryInline(admin.TabularInline):
    model = PeriodicTaskHistory
    fields = ("scheduled_at", "fired_at", "late", "missed_windows", "success", "skipped", "task_id", "reason")
    readonly_fields = fields
    ordering = ("-scheduled_at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("-scheduled_at")


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
    form = PeriodicTaskForm
    list_display = ("id", "name", "business", "cron", "enabled", "overlap_policy", "next_run_at", "last_run_at",
                    "total_run_count")
    list_filter = ("enabled", "overlap_policy", "template_source", "business")
    search_fields = ("name", "creator")
    list_select_related = ("business",)
    readonly_fields = ("next_run_at", "last_run_at", "total_run_count", "last_task_id", "create_time", "edit_time",
                       "cron")
    raw_id_fields = ("template",)
    actions = ("enable", "disable")
    inlines = (HistoryInline,)

    @admin.display(description="cron")
    def cron(self, obj: PeriodicTask) -> str:
        return obj.cron

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet, enabled: bool) -> None:
        # Through the service: it locks the row and (re)computes next_run_at.
        for task in queryset.select_related("business"):
            services.set_enabled(business=task.business, task_id=task.pk, enabled=enabled,
                                 editor=request.user.get_username())
        self.message_user(request, f"{queryset.count()} periodic task(s) {'enabled' if enabled else 'disabled'}",
                          messages.SUCCESS)

    @admin.action(description="Enable selected periodic tasks")
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected periodic tasks")
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, False)

    def save_model(self, request: HttpRequest, obj: PeriodicTask, form: Any, change: bool) -> None:
        # Edited cron fields or the enabled box must be reflected in next_run_at.
        from . import clock

        obj.next_run_at = services.compute_next_run(obj, clock.now()) if obj.enabled else None
        super().save_model(request, obj, form, change)


@admin.register(PeriodicTaskHistory)
class PeriodicTaskHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "periodic_task", "scheduled_at", "fired_at", "late", "missed_windows", "success",
                    "skipped", "task_id")
    list_filter = ("success", "late", "skipped")
    search_fields = ("periodic_task__name", "reason")
    list_select_related = ("periodic_task",)
    date_hierarchy = "fired_at"
