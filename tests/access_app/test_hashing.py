"""Secret hashing: keyed digests, old PBKDF2 hashes upgraded on use, key rotation, and equal work for all."""
from __future__ import annotations

import pytest

from access_app import hashing
from access_app.hashing import check_secret, hash_secret
from access_app.models import App
from tests.access_app.legacy import legacy_secret_hash


def test_a_secret_is_stored_as_a_salted_keyed_digest():
    stored = hash_secret("s3cret")
    algo, salt, digest = stored.split("$")
    assert algo == "hmac_sha256" and len(salt) == 16 and len(digest) == 64 and "s3cret" not in stored
    assert hash_secret("s3cret") != stored  # salted: the same secret never gives the same row
    assert check_secret("s3cret", stored, legacy_in_use=False) == hashing.SecretCheck(ok=True, rehash=False)
    for wrong in ("s3cret ", "S3cret", "", "s3cre"):
        assert check_secret(wrong, stored, legacy_in_use=False).ok is False, wrong


def test_the_digest_depends_on_the_server_key(settings):
    stored = hash_secret("s3cret")
    settings.SECRET_KEY = "another key"
    assert check_secret("s3cret", stored, legacy_in_use=False).ok is False


def test_a_rotated_key_still_verifies_through_the_fallbacks_and_asks_for_a_rehash(settings):
    stored = hash_secret("s3cret")
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the new key", [old]
    assert check_secret("s3cret", stored, legacy_in_use=False) == hashing.SecretCheck(ok=True, rehash=True)
    assert check_secret("wrong", stored, legacy_in_use=False).ok is False
    assert check_secret("s3cret", hash_secret("s3cret"), legacy_in_use=False).rehash is False


def test_an_old_pbkdf2_hash_verifies_once_and_asks_for_a_rehash():
    stored = legacy_secret_hash("s3cret")
    assert check_secret("s3cret", stored, legacy_in_use=True) == hashing.SecretCheck(ok=True, rehash=True)
    assert check_secret("wrong", stored, legacy_in_use=True) == hashing.SecretCheck(ok=False)
    assert check_secret("", stored, legacy_in_use=True).ok is False


@pytest.mark.parametrize("stored", [None, "", "garbage", "md5$x$y", "hmac_sha256$only-two"])
def test_no_app_or_a_malformed_hash_matches_nothing(stored):
    for raw in ("", "s3cret", hashing._DUMMY_DIGEST):
        assert check_secret(raw, stored, legacy_in_use=True).ok is False


def test_new_secret_invalidates_the_old_one():
    app = App(app_code="rotating")
    app.set_secret("old")
    assert app.check_secret("old")
    app.set_secret("new")
    assert not app.check_secret("old")
    assert app.check_secret("new")


@pytest.fixture
def work(monkeypatch):
    """Counts the digests check_secret computes: {"keyed": n, "legacy": n}."""
    counts = {"keyed": 0, "legacy": 0}
    keyed, legacy = hashing.keyed_digest, hashing.legacy_digest

    def counting_keyed(*args):
        counts["keyed"] += 1
        return keyed(*args)

    def counting_legacy(*args):
        counts["legacy"] += 1
        return legacy(*args)

    monkeypatch.setattr(hashing, "keyed_digest", counting_keyed)
    monkeypatch.setattr(hashing, "legacy_digest", counting_legacy)
    return counts


def work_of(counts, raw, stored, legacy_in_use):
    counts.update(keyed=0, legacy=0)
    check_secret(raw, stored, legacy_in_use=legacy_in_use)
    return dict(counts)


@pytest.mark.parametrize("fallbacks", [[], ["old key one", "old key two"]])
def test_every_failing_check_does_the_same_work_whether_the_app_exists_or_not(settings, work, fallbacks):
    settings.SECRET_KEY_FALLBACKS = fallbacks
    keyed, legacy = hash_secret("right"), legacy_secret_hash("right")
    keys = 1 + len(fallbacks)
    failing = [(raw, stored) for raw in ("wrong", "") for stored in (keyed, None, "garbage")]
    failing += [("right", None), ("right", "garbage")]
    # No old hash left: one keyed digest per server key, nothing else.
    for raw, stored in [*failing, ("right", keyed)]:
        assert work_of(work, raw, stored, False) == {"keyed": keys, "legacy": 0}, (raw, stored)
    # While an old hash remains anywhere, every failing check also runs PBKDF2 once, the unknown app's too.
    for raw, stored in [*failing, ("wrong", legacy), ("", legacy)]:
        assert work_of(work, raw, stored, True) == {"keyed": keys, "legacy": 1}, (raw, stored)
    # A right secret: the old hash is verified (then replaced); a keyed one needs no PBKDF2.
    assert work_of(work, "right", legacy, True) == {"keyed": keys, "legacy": 1}
    assert work_of(work, "right", keyed, True) == {"keyed": keys, "legacy": 0}
