"""Periodic tasks (a frozen task tree plus a cron in the business's zone) and their firing history."""
from __future__ import annotations

from typing import Any

from django.db import models

from access_app.models import Business
from templates_app.models import Template, TemplateSource

from .cron import FIELDS, CronSchedule, cron_text, parse_stored_cron

PERIODIC_TASK_NAME_MAX_LENGTH = 50


class OverlapPolicy(models.TextChoices):
    ALLOW = "allow", "allow (fire even if the previous run is still going)"
    SKIP = "skip", "skip while the previous run is still going"


class PeriodicTask(models.Model):
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="periodic_tasks")
    # PROTECT: firing needs the template row (the task records where it came from).
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="periodic_tasks")
    template_source = models.CharField(max_length=16, choices=TemplateSource.choices,
                                       default=TemplateSource.BUSINESS)
    name = models.CharField(max_length=64)
    creator = models.CharField(max_length=128)
    editor = models.CharField(max_length=128, blank=True, default="")
    create_time = models.DateTimeField(auto_now_add=True)
    edit_time = models.DateTimeField(auto_now=True)

    # The cron as the caller wrote it (spaces removed), one column per field.
    minute = models.CharField(max_length=255, default="*")
    hour = models.CharField(max_length=255, default="*")
    day_of_week = models.CharField(max_length=255, default="*")
    day_of_month = models.CharField(max_length=255, default="*")
    month_of_year = models.CharField(max_length=255, default="*")

    # The task tree as create_task builds it (exclusions applied, constants pruned and merged,
    # ids regenerated); every firing creates its task from this snapshot.
    pipeline_tree = models.JSONField()

    enabled = models.BooleanField(default=False)
    overlap_policy = models.CharField(max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.ALLOW)
    # UTC; NULL while disabled. The scheduler claims rows with enabled and next_run_at <= now.
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    total_run_count = models.PositiveIntegerField(default=0)
    # The task the last successful firing created, for the overlap policy.
    last_task_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The scheduler's claim: due rows in (next_run_at, id) order, LIMIT a batch. The key
            # gives that order, so a claim reads its batch and stops; with next_run_at alone, a
            # burst of 10,000 rows due at the same minute was sorted whole by id for every claim
            # (~110 ms of PostgreSQL per batch of 20).
            models.Index(fields=["next_run_at", "id"], condition=models.Q(enabled=True), name="periodic_due_order"),
            models.Index(fields=["business", "-id"], name="periodic_biz_recent"),
        ]

    def __str__(self) -> str:
        return f"periodic task #{self.pk} {self.name}"

    @property
    def cron_fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def cron(self) -> str:
        return cron_text(self.cron_fields)

    @property
    def schedule(self) -> CronSchedule:
        return parse_stored_cron(self.cron_fields)

    def set_schedule(self, schedule: CronSchedule) -> None:
        for name, text in schedule.fields().items():
            setattr(self, name, text)

    @property
    def constants(self) -> dict[str, Any]:
        return (self.pipeline_tree or {}).get("constants") or {}


class PeriodicTaskHistory(models.Model):
    """One firing: when it was due, when it happened, and what came of it."""

    periodic_task = models.ForeignKey(PeriodicTask, on_delete=models.CASCADE, related_name="history")
    scheduled_at = models.DateTimeField(help_text="the fire time the cron asked for (UTC)")
    fired_at = models.DateTimeField(help_text="when the scheduler actually fired (UTC)")
    late = models.BooleanField(default=False, help_text="fired well after its scheduled time (catch-up)")
    missed_windows = models.PositiveIntegerField(
        default=0, help_text="further fire times that passed while the scheduler was away; folded into this one")
    task_id = models.BigIntegerField(null=True, blank=True, help_text="the task this firing created")
    success = models.BooleanField(default=False)
    skipped = models.BooleanField(default=False, help_text="not fired: the previous run was still going")
    reason = models.TextField(blank=True, default="")

    class Meta:
        # Newest fire time first; the unique index below serves this order.
        ordering = ["-scheduled_at", "-id"]
        verbose_name_plural = "periodic task history"
        indexes = [models.Index(fields=["fired_at"], name="periodic_hist_fired")]
        constraints = [
            # A fire time is handled once, whatever number of schedulers run: a second attempt
            # to record the same (task, scheduled time) fails and rolls its task back.
            models.UniqueConstraint(fields=["periodic_task", "scheduled_at"], name="uniq_periodic_firing"),
        ]

    def __str__(self) -> str:
        return f"firing of {self.periodic_task_id} at {self.scheduled_at:%Y-%m-%d %H:%M}"
