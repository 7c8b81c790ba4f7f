"""Who may call the API: registered apps and user tickets."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

from django.conf import settings
from django.db import models
from django.utils import timezone


def hash_secret(raw: str) -> str:
    """Secrets are stored as salted PBKDF2 hashes so a leaked table reveals nothing."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), 60_000).hex()
    return f"pbkdf2_sha256${salt}${digest}"


# PBKDF2 costs tens of milliseconds by design; paying it on every API call would
# cap a 2-core server at a few dozen requests per second. A verified secret is
# remembered by (stored hash, SHA-256 of the presented secret): a changed secret
# changes the stored hash, so stale entries can never match.
_VERIFIED_CACHE_SIZE = 1024
_verified: OrderedDict[tuple[str, str], bool] = OrderedDict()
_verified_lock = threading.Lock()


def check_secret(raw: str, stored: str) -> bool:
    try:
        _algo, salt, digest = stored.split("$", 2)
    except ValueError:
        return False
    key = (stored, hashlib.sha256(raw.encode()).hexdigest())
    with _verified_lock:
        if key in _verified:
            _verified.move_to_end(key)
            return True
    candidate = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), 60_000).hex()
    if not hmac.compare_digest(candidate, digest):
        return False
    with _verified_lock:
        _verified[key] = True
        while len(_verified) > _VERIFIED_CACHE_SIZE:
            _verified.popitem(last=False)
    return True


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
