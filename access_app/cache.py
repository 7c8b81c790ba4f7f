"""A short-lived, per-process memory of identity lookups.

Every API call needs the app, the user's ticket, the business and the user's
role: four queries whose ORM compilation alone is a third of a small request's
cost. Remembering the answers for a couple of seconds removes them from hot
loops (a caller polling get_task_status) while keeping revocation prompt:

- any save or delete of an App, UserTicket, User, Business or BusinessMember
  clears this process's memory at once (signals), and the services that write
  with `QuerySet.update()` clear it explicitly;
- other processes see a change within SOPS_AUTH_CACHE_SECONDS (default 2 s;
  0 turns the memory off);
- a remembered ticket's expiry is re-checked on every use;
- at most 4,096 entries and SOPS_AUTH_CACHE_BYTES (default 8 MiB) of them, approximately; an
  entry heavier than a quarter of that is not remembered.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

_MAX_ENTRIES = 4096
_cache: Any = None
_lock = threading.Lock()


def ttl() -> float:
    """How long an entry lives, in seconds (SOPS_AUTH_CACHE_SECONDS)."""
    return float(getattr(settings, "SOPS_AUTH_CACHE_SECONDS", 2.0))


def max_bytes() -> int:
    """The memory's budget in approximate bytes (SOPS_AUTH_CACHE_BYTES): keys carry what callers
    send (app codes, tokens), so entries alone would not bound it."""
    return int(getattr(settings, "SOPS_AUTH_CACHE_BYTES", 8 * 1024 * 1024))


def _entries() -> Any:
    global _cache
    if _cache is None:
        with _lock:
            if _cache is None:
                from sops_common.caches import bounded_cache

                _cache = bounded_cache("identity lookups", max_entries=_MAX_ENTRIES, max_bytes=max_bytes)
    return _cache


def remember(key: Any, compute: Callable[[], Any]) -> Any:
    """The value for `key`, computed at most once per TTL. Exceptions are not remembered."""
    seconds = ttl()
    if seconds <= 0:
        return compute()
    now = time.monotonic()
    entries = _entries()
    hit = entries.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    entries.put(key, (now + seconds, value))
    return value


def clear(**_: Any) -> None:
    """Forget everything (a signal receiver, hence the keyword arguments)."""
    if _cache is not None:
        _cache.clear()


def connect_invalidation() -> None:
    """Called from AccessAppConfig.ready(): identity writes clear the memory."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save

    from .models import App, Business, BusinessMember, UserTicket

    for model in (App, UserTicket, Business, BusinessMember, get_user_model()):
        post_save.connect(clear, sender=model, weak=False, dispatch_uid=f"auth-cache-save-{model.__name__}")
        post_delete.connect(clear, sender=model, weak=False, dispatch_uid=f"auth-cache-del-{model.__name__}")
