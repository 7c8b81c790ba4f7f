"""What the service stored before keyed digests: a PBKDF2 hash of an app secret, for migration tests."""
from __future__ import annotations

import hashlib
import secrets


def legacy_secret_hash(raw: str) -> str:
    """An app secret hash in the old format (`pbkdf2_sha256$<salt>$<hex>`, 60,000 rounds)."""
    salt = secrets.token_hex(8)
    return f"pbkdf2_sha256${salt}${hashlib.pbkdf2_hmac('sha256', raw.encode(), salt.encode(), 60_000).hex()}"
