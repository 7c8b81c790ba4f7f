"""Who may call the API: registered apps and user tickets."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def hash_secret(raw: str) -> str:
    """Secrets are stored as salted PBKDF2 hashes so a leaked table reveals nothing."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), 60_000).hex()
    return f"pbkdf2_sha256${salt}${digest}"


def check_secret(raw: str, stored: str) -> bool:
    try:
        _algo, salt, digest = stored.split("$", 2)
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), 60_000).hex()
    return hmac.compare_digest(candidate, digest)


def token_digest(raw: str) -> str:
    """Tickets are looked up by their SHA-256, never stored in clear."""
    return hashlib.sha256(raw.encode()).hexdigest()


class App(models.Model):
    app_code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=128, blank=True)
    secret_hash = models.CharField(max_length=256, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app_code"]

    def __str__(self) -> str:
        return self.app_code

    def set_secret(self, raw: str) -> None:
        self.secret_hash = hash_secret(raw)

    def check_secret(self, raw: str) -> bool:
        return bool(raw) and check_secret(raw, self.secret_hash)


class UserTicket(models.Model):
    BK_TOKEN = "bk_token"
    ACCESS_TOKEN = "access_token"
    KIND_CHOICES = [(BK_TOKEN, "bk_token (login ticket)"), (ACCESS_TOKEN, "access_token")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, blank=True, editable=False, help_text="First characters, to recognise a ticket")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.hint}… of {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
