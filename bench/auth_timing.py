"""Authentication timing through the HTTP API: does an answer tell whether an app exists?

`.venv/bin/python bench/auth_timing.py [--calls 300] [--legacy] [--db-name NAME] [--redis-db N] [--http-port P]`

Starts its own gunicorn (one worker, so every call meets the same process) on a
fresh PostgreSQL database, seeds one business, one app with a generated secret
and a user with a bk_token, then sends GET /apigw/get_template_list/{biz}/ in
rounds of four calls, in random order within each round so that drift of the
machine's load hits every case alike:

- unknown app: an app_code that does not exist;
- wrong secret: the app's code with another 43-character secret;
- right secret: the app's credentials and the bk_token (the answer's work after
  authentication, a template list, adds to this one only);
- no credentials.

Prints the median, quartiles and the difference of medians between the unknown
app and the wrong secret, which must be within noise (docs: README "Authentication").
`--legacy` also stores a second app with a PBKDF2 hash of the old format, as a
database migrated from before the keyed digests holds until that app calls once.

Seeding goes through the ORM and the services that exist before and after the
change to the secret hashes, so the same script measures both.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Config  # noqa: E402

BIZ_ID = 9902
CASES = ("unknown app", "wrong secret", "right secret", "no credentials")


def seed(legacy: bool) -> dict[str, dict[str, str]]:
    from access_app.models import App, Business, Role
    from access_app.services import create_app, ensure_user, issue_ticket, set_member_role

    business = Business.objects.create(bk_biz_id=BIZ_ID, name="auth timing")
    user = ensure_user(username="timing")
    set_member_role(business=business, user=user, role=Role.VIEWER)
    _app, secret = create_app(app_code="timing-app")
    _ticket, bk_token = issue_ticket(user=user, kind="bk_token")
    if legacy:
        # The format the service wrote before keyed digests (PBKDF2-SHA256, 60,000 rounds).
        salt = secrets.token_hex(8)
        digest = hashlib.pbkdf2_hmac("sha256", b"legacy-secret", salt.encode(), 60_000).hex()
        App.objects.create(app_code="legacy-app", name="legacy", secret_hash=f"pbkdf2_sha256${salt}${digest}")
    other = secrets.token_urlsafe(32)
    return {
        "unknown app": {"app_code": "no-such-app", "app_secret": other, "bk_token": bk_token},
        "wrong secret": {"app_code": "timing-app", "app_secret": other, "bk_token": bk_token},
        "right secret": {"app_code": "timing-app", "app_secret": secret, "bk_token": bk_token},
        "no credentials": {},
    }


def measure(base_url: str, params: dict[str, dict[str, str]], calls: int) -> dict[str, list[float]]:
    import requests

    session = requests.Session()
    url = f"{base_url}/apigw/get_template_list/{BIZ_ID}/"
    samples: dict[str, list[float]] = {case: [] for case in CASES}
    expected = {"unknown app": False, "wrong secret": False, "right secret": True, "no credentials": False}
    order = list(CASES)
    for round_no in range(calls + 10):
        random.shuffle(order)
        for case in order:
            t0 = time.perf_counter()
            body = session.get(url, params=params[case], timeout=30).json()
            elapsed = time.perf_counter() - t0
            if body["result"] is not expected[case]:
                raise RuntimeError(f"{case}: unexpected answer {body}")
            if round_no >= 10:  # the first rounds warm connections and caches
                samples[case].append(elapsed * 1e3)
    return samples


def report(samples: dict[str, list[float]]) -> str:
    lines = ["| case | calls | median ms | p25 ms | p75 ms |", "|---|---|---|---|---|"]
    for case, values in samples.items():
        q1, q2, q3 = statistics.quantiles(values, n=4)
        lines.append(f"| {case} | {len(values)} | {q2:.3f} | {q1:.3f} | {q3:.3f} |")
    diff = statistics.median(samples["wrong secret"]) - statistics.median(samples["unknown app"])
    spread = statistics.quantiles(samples["unknown app"], n=4)
    lines.append("")
    lines.append(f"wrong secret - unknown app, medians: {diff:+.3f} ms "
                 f"(interquartile range of the unknown app: {spread[2] - spread[0]:.3f} ms)")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=300, help="calls per case (default 300)")
    p.add_argument("--legacy", action="store_true", help="also store an app with an old PBKDF2 hash")
    p.add_argument("--db-name", default=os.environ.get("BENCH_DB_NAME", "sops_auth_timing"))
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/"))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"))
    p.add_argument("--redis-db", type=int, default=9, help="the Redis database used as broker (flushed)")
    p.add_argument("--http-port", type=int, default=8766)
    args = p.parse_args()

    cfg = Config(pg_url=args.pg_url, db_name=args.db_name, redis_url=args.redis_url, broker_db=args.redis_db,
                 counters_db=args.redis_db, http_port=args.http_port, gunicorn_workers=1)
    os.environ.update(cfg.child_env("driver"))
    harness.flush_redis(cfg)
    harness.fresh_database(cfg)
    import django

    django.setup()
    params = seed(args.legacy)
    web = harness.Gunicorn(cfg)
    web.start()
    try:
        samples = measure(web.base_url, params, args.calls)
    finally:
        web.stop()
        harness.drop_database(cfg)
    print(report(samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
