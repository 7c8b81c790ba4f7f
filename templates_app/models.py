"""Businesses, their members' roles, and process templates with their versions."""
from __future__ import annotations

import hashlib
import json
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone") from exc


class Business(models.Model):
    bk_biz_id = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=128)
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai", validators=[validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bk_biz_id"]
        verbose_name_plural = "businesses"

    def __str__(self) -> str:
        return f"{self.bk_biz_id} {self.name}"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone or "UTC")


class Role(models.TextChoices):
    VIEWER = "viewer", "viewer (read)"
    OPERATOR = "operator", "operator (create, start, operate tasks)"
    MAINTAINER = "maintainer", "maintainer (also periodic tasks)"


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.MAINTAINER: 3}


class BusinessMember(models.Model):
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="business_roles")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["business", "user"], name="uniq_business_member")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.business}"


class Category(models.TextChoices):
    OPS_TOOLS = "OpsTools", "运维工具"
    MONITOR_ALARM = "MonitorAlarm", "监控告警"
    CONF_MANAGE = "ConfManage", "配置管理"
    DEV_TOOLS = "DevTools", "开发工具"
    ENTERPRISE_IT = "EnterpriseIT", "企业IT"
    OFFICE_APP = "OfficeApp", "办公应用"
    OTHER = "Other", "其它"


class TemplateSource(models.TextChoices):
    BUSINESS = "business", "business template"
    COMMON = "common", "common template"


def tree_digest(tree: dict) -> str:
    """A stable digest of a tree: the same content always gives the same version id."""
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Template(models.Model):
    """A process template. Common templates have no business and serve every business."""

    source = models.CharField(max_length=16, choices=TemplateSource.choices, default=TemplateSource.BUSINESS)
    business = models.ForeignKey(Business, null=True, blank=True, on_delete=models.PROTECT, related_name="templates")
    name = models.CharField(max_length=100)
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
