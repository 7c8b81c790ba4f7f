"""How credentials are kept and checked: keyed digests of app secrets, SHA-256 digests of tickets.

App secrets. A secret is stored as `hmac_sha256$<salt>$<HMAC-SHA256>`, keyed
with a key derived from Django's SECRET_KEY (never stored in the database), so
a leaked table alone gives nothing to guess against. The digest is fast on
purpose: generated secrets carry 256 bits (`services.generate_secret`), which
no slow hash makes harder to guess, and a slow hash run only for existing apps
is what let the answer's time tell which app codes exist. An operator may
still choose a short secret (`create_app --secret`); the README says why that
stays acceptable and what to prefer.

Equal work. A check that fails does the same computations whether the app
exists (`stored` None is checked against a dummy) and whatever form the stored
hash has: one HMAC per server key (SECRET_KEY, then each of
SECRET_KEY_FALLBACKS), and one PBKDF2 run while any app still keeps a hash of
the old PBKDF2 format (`legacy_in_use`). A right secret under a keyed hash
skips that PBKDF2 run. Old hashes are replaced by the keyed form on their
first successful check (`SecretCheck.rehash`).

Tickets are random bearer tokens: their SHA-256 is their lookup key.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac

KEYED = "hmac_sha256"
LEGACY = "pbkdf2_sha256"
LEGACY_ITERATIONS = 60_000  # what the service wrote before keyed digests
_KEY_SALT = "sops.access_app.hashing.app_secret"


def _server_keys() -> list[str]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def keyed_digest(raw: str, salt: str, key: str) -> str:
    """HMAC-SHA256 of the salted secret under a key derived from `key` (a SECRET_KEY)."""
    return salted_hmac(_KEY_SALT, f"{salt}${raw}", secret=key, algorithm="sha256").hexdigest()


def legacy_digest(raw: str, salt: str) -> str:
    """The old format's PBKDF2-SHA256, kept only to verify hashes written before keyed digests."""
    return hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), LEGACY_ITERATIONS).hex()


def hash_secret(raw: str) -> str:
    """The stored form of a secret: `hmac_sha256$<salt>$<digest>` under the current SECRET_KEY."""
    salt = secrets.token_hex(8)
    return f"{KEYED}${salt}${keyed_digest(raw, salt, settings.SECRET_KEY)}"


def is_legacy(stored: str) -> bool:
    return stored.startswith(f"{LEGACY}$")


@dataclass(frozen=True)
class SecretCheck:
    ok: bool
    rehash: bool = False  # right, but stored in an old form (PBKDF2, or under a fallback key): store it anew


# What an unknown app's secret is compared with: the same shapes as real hashes, matching nothing.
_DUMMY_SALT = secrets.token_hex(8)
_DUMMY_DIGEST = secrets.token_hex(32)


def _parse(stored: str | None) -> tuple[str, str, str]:
    parts = (stored or "").split("$")
    if len(parts) == 3 and parts[0] in (KEYED, LEGACY):
        return parts[0], parts[1], parts[2]
    return "", _DUMMY_SALT, _DUMMY_DIGEST


def check_secret(raw: str, stored: str | None, *, legacy_in_use: bool) -> SecretCheck:
    """Whether `raw` is the secret `stored` was made from (None: an unknown app; never right).

    Does the same work for every failing `raw` and `stored` of one deployment (see the module's
    docstring); `legacy_in_use` must be true while any app's hash has the legacy form.
    """
    algo, salt, digest = _parse(stored)
    keyed_target = digest if algo == KEYED else _DUMMY_DIGEST
    matched_key = -1
    for index, key in enumerate(_server_keys()):
        # Every key is tried, whichever matches: the time must not depend on it.
        if hmac.compare_digest(keyed_digest(raw, salt, key), keyed_target) and matched_key < 0:
            matched_key = index
    legacy_ok = False
    # A right keyed secret skips the dummy PBKDF2: being faster tells only what the answer says anyway.
    if algo == LEGACY or (legacy_in_use and matched_key < 0):
        legacy_target = digest if algo == LEGACY else _DUMMY_DIGEST
        legacy_ok = hmac.compare_digest(legacy_digest(raw, salt), legacy_target)
    if not raw:
        return SecretCheck(ok=False)
    if algo == KEYED and matched_key >= 0:
        return SecretCheck(ok=True, rehash=matched_key > 0)
    if algo == LEGACY and legacy_ok:
        return SecretCheck(ok=True, rehash=True)
    return SecretCheck(ok=False)


def token_digest(raw: str) -> str:
    """Tickets are looked up by their SHA-256, never stored in clear."""
    return hashlib.sha256(raw.encode()).hexdigest()
