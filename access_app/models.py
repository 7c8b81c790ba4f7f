"""Who may call, for whom, with which role: apps, user tickets, businesses and their members.

The tables keep the names they had when these models lived in sops_api and
templates_app (`db_table`); access_app/migrations/0001 took them over without
moving a row.
"""
from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .hashing import check_secret, hash_secret

APP_CODE_MAX_LENGTH = 64
BUSINESS_NAME_MAX_LENGTH = 128


class App(models.Model):
    app_code = models.CharField(max_length=APP_CODE_MAX_LENGTH, unique=True)
    name = models.CharField(max_length=128, blank=True)
    secret_hash = models.CharField(max_length=256, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sops_api_app"
        ordering = ["app_code"]

    def __str__(self) -> str:
        return self.app_code

    def set_secret(self, raw: str) -> None:
        self.secret_hash = hash_secret(raw)

    def check_secret(self, raw: str) -> bool:
        """Whether `raw` is this app's secret (authentication checks through access_app.authentication)."""
        return check_secret(raw, self.secret_hash, legacy_in_use=False).ok


class UserTicket(models.Model):
    """A user's credential: a bk_token (login ticket, any app may present it with its own credentials)
    or an access_token (bound to the app it was issued for; it stands for that app and the user).

    `app` is empty for every bk_token, and for access_tokens issued before tokens were bound to apps
    (access_app/migrations/0002): those still work with app credentials, never alone.
    """

    BK_TOKEN = "bk_token"
    ACCESS_TOKEN = "access_token"
    KIND_CHOICES = [(BK_TOKEN, "bk_token (login ticket)"), (ACCESS_TOKEN, "access_token")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    app = models.ForeignKey(App, on_delete=models.CASCADE, null=True, blank=True, related_name="tickets",
                            help_text="The app an access_token was issued for (a bk_token has none)")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, blank=True, editable=False, help_text="First characters, to recognise a ticket")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sops_api_userticket"
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(
            condition=models.Q(kind="access_token") | models.Q(app__isnull=True), name="bk_token_has_no_app")]

    def __str__(self) -> str:
        return f"{self.kind} {self.hint}… of {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone") from exc


class Business(models.Model):
    """The scope of templates, tasks and roles (a CMDB business), with the time zone its times render in."""

    bk_biz_id = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=BUSINESS_NAME_MAX_LENGTH)
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai", validators=[validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "templates_app_business"
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
        db_table = "templates_app_businessmember"
        constraints = [models.UniqueConstraint(fields=["business", "user"], name="uniq_business_member")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.business}"
