"""An answer does not tell whether an app exists: an unknown app and a wrong secret cost the same work.

Counted, not timed, where it can be: the digests computed (access_app/hashing.py) and the SQL statements
run per call. One timing comparison backs them up with a bound far from the noise: while an app keeps an
old PBKDF2 hash, a wrong secret costs a PBKDF2 run (~15 ms here); before the fix an unknown app cost
about 1 ms against it, now it pays the same run. Figures through gunicorn: bench/auth_timing.py.
"""
from __future__ import annotations

import statistics
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access_app import cache, hashing
from access_app.models import App
from tests.access_app.legacy import legacy_secret_hash
from tests.support.gate import SECRET, assert_forbidden

pytestmark = [pytest.mark.django_db]

URL = "/apigw/get_template_list/2/"
WRONG = "a-wrong-secret-of-some-length-0123456789"


@pytest.fixture
def work(monkeypatch):
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


def cases(gate) -> dict[str, dict[str, str]]:
    return {
        "unknown app": {"app_code": "no-such-app", "app_secret": WRONG, "access_token": gate.tokens["olivia"]},
        "wrong secret": {"app_code": "test-app", "app_secret": WRONG, "access_token": gate.tokens["olivia"]},
        "no secret": {"app_code": "test-app", "access_token": gate.tokens["olivia"]},
        "unknown app, no secret": {"app_code": "no-such-app", "access_token": gate.tokens["olivia"]},
    }


def cost(client, work, params) -> tuple[dict[str, int], int, str]:
    """(digests computed, SQL statements run, message) of one refused call."""
    work.update(keyed=0, legacy=0)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(URL, params).json()
    assert_forbidden(body, "app_code or app_secret is wrong")
    return dict(work), len(queries), body["message"]


@pytest.mark.parametrize("legacy_app", [False, True], ids=["keyed hashes only", "an old PBKDF2 hash remains"])
@pytest.mark.parametrize("remembered", [0, 60], ids=["cache off", "cache on"])
def test_unknown_app_and_wrong_secret_do_the_same_work(client, gate, work, settings, legacy_app, remembered):
    settings.SOPS_AUTH_CACHE_SECONDS = remembered
    if legacy_app:
        App.objects.create(app_code="legacy-app", secret_hash=legacy_secret_hash("legacy-secret"))
    cache.clear()
    for params in cases(gate).values():  # with the cache on, every lookup is remembered after this round
        client.get(URL, params)
    seen = {name: cost(client, work, params) for name, params in cases(gate).items()}
    assert all(work_done == seen["unknown app"] for work_done in seen.values()), seen
    digests, _queries, _message = seen["unknown app"]
    assert digests == {"keyed": 1, "legacy": 1 if legacy_app else 0}


def test_the_old_hash_is_paid_for_until_the_last_one_is_upgraded(client, gate, work):
    App.objects.create(app_code="legacy-app", secret_hash=legacy_secret_hash("legacy-secret"))
    unknown = cases(gate)["unknown app"]
    assert cost(client, work, unknown)[0] == {"keyed": 1, "legacy": 1}
    ok = client.get(URL, {"app_code": "legacy-app", "app_secret": "legacy-secret",
                          "access_token": gate.tokens["olivia"]}).json()
    assert_forbidden(ok, "the access_token was issued for another app")  # the secret was right: upgraded
    assert App.objects.get(app_code="legacy-app").secret_hash.startswith("hmac_sha256$")
    assert cost(client, work, unknown)[0] == {"keyed": 1, "legacy": 0}


def test_with_an_old_hash_an_unknown_app_takes_as_long_as_a_wrong_secret(client, gate, settings):
    settings.SOPS_AUTH_CACHE_SECONDS = 60  # lookups remembered: what is left is the secret check
    App.objects.filter(app_code="test-app").update(secret_hash=legacy_secret_hash(SECRET))
    cache.clear()
    params = cases(gate)
    samples: dict[str, list[float]] = {"unknown app": [], "wrong secret": []}
    for _ in range(15):
        for name in samples:  # interleaved, so a burst of load hits both alike
            t0 = time.perf_counter()
            client.get(URL, params[name])
            samples[name].append(time.perf_counter() - t0)
    unknown, wrong = (statistics.median(samples[name]) for name in ("unknown app", "wrong secret"))
    # Equal work gives a ratio near 1; an unknown app skipping PBKDF2 gave about 0.07.
    assert unknown > 0.5 * wrong, (unknown, wrong)
