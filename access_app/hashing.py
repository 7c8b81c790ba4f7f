"""How credentials are kept: salted PBKDF2 hashes for app secrets, SHA-256 digests for tickets.

A leaked table reveals no secret and no token.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

PBKDF2_ITERATIONS = 60_000


def hash_secret(raw: str) -> str:
    """A salted PBKDF2 hash of `raw`, as stored in App.secret_hash."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), PBKDF2_ITERATIONS).hex()
    return f"pbkdf2_sha256${salt}${digest}"


# PBKDF2 costs tens of milliseconds by design; paying it on every API call would
# cap a 2-core server at a few dozen requests per second. A verified secret is
# remembered by (stored hash, SHA-256 of the presented secret): a changed secret
# changes the stored hash, so stale entries can never match.
_VERIFIED_CACHE_SIZE = 1024
_verified: OrderedDict[tuple[str, str], bool] = OrderedDict()
_verified_lock = threading.Lock()


def check_secret(raw: str, stored: str) -> bool:
    """Whether `raw` is the secret `stored` was made from."""
    try:
        _algo, salt, digest = stored.split("$", 2)
    except ValueError:
        return False
    key = (stored, hashlib.sha256(raw.encode()).hexdigest())
    with _verified_lock:
        if key in _verified:
            _verified.move_to_end(key)
            return True
    candidate = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), PBKDF2_ITERATIONS).hex()
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
