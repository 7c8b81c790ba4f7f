"""Clocked tasks: one future run of a business template, started once at a planned time."""
from __future__ import annotations

from django.db import models

from access_app.models import Business
from templates_app.models import Template

CLOCKED_TASK_NAME_MAX_LENGTH = 128


class ClockedState(models.TextChoices):
    NOT_STARTED = "not_started", "not started"
    STARTED = "started", "started"
    START_FAILED = "start_failed", "start failed"


class ClockedTask(models.Model):
    """A task to create and start once, at `plan_start_time`.

    The business, template and template source are columns set from the request's path, never from
    its body; `task_parameters` holds only what the task is made with (constants, node selection,
    simplify_vars, description).
    """

    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="clocked_tasks")
    # PROTECT: firing needs the template row; a soft-deleted template fails the firing with its reason.
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="clocked_tasks")
    template_name = models.CharField(max_length=100, help_text="the template's name when the plan was made")
    task_name = models.CharField(max_length=CLOCKED_TASK_NAME_MAX_LENGTH)
    creator = models.CharField(max_length=128)
    editor = models.CharField(max_length=128, blank=True, default="")
    # UTC. The scheduler claims rows with state not_started and plan_start_time <= now.
    plan_start_time = models.DateTimeField()
    task_parameters = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=ClockedState.choices, default=ClockedState.NOT_STARTED)
    task_id = models.BigIntegerField(null=True, blank=True, help_text="the task the firing created")
    fired_at = models.DateTimeField(null=True, blank=True, help_text="when the scheduler fired it (UTC)")
    reason = models.TextField(blank=True, default="", help_text="why the start failed")
    create_time = models.DateTimeField(auto_now_add=True)
    edit_time = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Only plans not fired yet are looked at by every tick.
            # The claim's order (plan_start_time, id) is the key's, so a claim reads one batch and
            # stops instead of sorting every due row (periodic_app's periodic_due_order says why).
            models.Index(fields=["plan_start_time", "id"], condition=models.Q(state="not_started"),
                         name="clocked_due_order"),
            models.Index(fields=["business", "-id"], name="clocked_biz_recent"),
        ]

    def __str__(self) -> str:
        return f"clocked task #{self.pk} {self.task_name}"
