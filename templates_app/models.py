"""Process templates (business and common) and the versions of their trees."""
from __future__ import annotations

import hashlib
import json

from django.db import models

from access_app.models import Business


class Category(models.TextChoices):
    OPS_TOOLS = "OpsTools", "运维工具"
    MONITOR_ALARM = "MonitorAlarm", "监控告警"
    CONF_MANAGE = "ConfManage", "配置管理"
    DEV_TOOLS = "DevTools", "开发工具"
    ENTERPRISE_IT = "EnterpriseIT", "企业IT"
    OFFICE_APP = "OfficeApp", "办公应用"
    OTHER = "Other", "其它"
    # The original's default category: templates imported from it or created by create_template keep it.
    DEFAULT = "Default", "默认分类"


class TemplateSource(models.TextChoices):
    BUSINESS = "business", "business template"
    COMMON = "common", "common template"


TEMPLATE_NAME_MAX_LENGTH = 100


def default_notify_type() -> dict:
    return {"success": [], "fail": []}


def default_notify_receivers() -> dict:
    return {"receiver_group": [], "more_receiver": ""}


def tree_digest(tree: dict) -> str:
    """A stable digest of a tree: the same content always gives the same version id."""
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Template(models.Model):
    """A process template. Common templates have no business and serve every business."""

    source = models.CharField(max_length=16, choices=TemplateSource.choices, default=TemplateSource.BUSINESS)
    business = models.ForeignKey(Business, null=True, blank=True, on_delete=models.PROTECT, related_name="templates")
    name = models.CharField(max_length=TEMPLATE_NAME_MAX_LENGTH)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    description = models.TextField(blank=True, default="")
    creator = models.CharField(max_length=128)
    create_time = models.DateTimeField(auto_now_add=True)
    # The spec renders a never-edited template's editor as null, so NULL is meaningful here.
    editor = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    edit_time = models.DateTimeField(auto_now=True)
    pipeline_tree = models.JSONField()
    version = models.CharField(max_length=64, editable=False, blank=True)
    is_deleted = models.BooleanField(default=False)
    # Settings the original keeps with a template; sops stores and returns them (create_template,
    # import, include_notify) but sends no notifications of its own.
    notify_type = models.JSONField(default=default_notify_type)
    notify_receivers = models.JSONField(default=default_notify_receivers)
    time_out = models.PositiveIntegerField(default=20, help_text="minutes")
    default_flow_type = models.CharField(max_length=32, default="common")
    executor_proxy = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["source", "business", "is_deleted"])]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(source="business", business__isnull=False)
                           | models.Q(source="common", business__isnull=True)),
                name="template_source_matches_business",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.source} #{self.pk})"


class TemplateVersion(models.Model):
    """Every tree a template ever saved, so a task can say which version it ran."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    digest = models.CharField(max_length=64)
    pipeline_tree = models.JSONField()
    editor = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["template", "digest"], name="uniq_template_version")]

    def __str__(self) -> str:
        return f"{self.template_id}@{self.digest[:12]}"


SCHEME_NAME_MAX_LENGTH = 64


class TemplateScheme(models.Model):
    """An execution scheme: a named selection of a template's nodes to run (create_task template_schemes_id).

    `data` is the list of selected node ids of the template's tree. Optional nodes outside the
    selection are left out of a task; mandatory nodes always run.
    """

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="schemes")
    # "{template_id}-{name}" for schemes made here; an imported scheme keeps the id it came with
    # when it is free, so callers that stored it keep working.
    unique_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=SCHEME_NAME_MAX_LENGTH)
    data = models.JSONField(default=list, help_text="the selected node ids, a JSON list of strings")
    creator = models.CharField(max_length=128, blank=True, default="")
    create_time = models.DateTimeField(auto_now_add=True)
    edit_time = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["template", "name"], name="uniq_template_scheme_name")]

    def __str__(self) -> str:
        return f"scheme {self.name} of template #{self.template_id}"
