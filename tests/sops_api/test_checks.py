"""Outside the embedded demo nothing starts with the code's SECRET_KEY; the demo makes its own key.

Real processes, as an operator starts them: `manage.py check --deploy`, gunicorn with the
project's config, a Celery worker. "Outside the demo" is DATABASE_URL set (here a SQLite URL, so
the test needs no server); the demo is neither DATABASE_URL nor CELERY_BROKER_URL.
"""
from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLEARED = ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "SOPS_DEMO", "PROMETHEUS_MULTIPROC_DIR",
           "TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({"SOPS_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT), **extra})
    return env


def outside_demo(tmp_path: Path, **extra: str) -> dict[str, str]:
    return environment(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
                       CELERY_BROKER_URL="filesystem://", **extra)


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_check_deploy_refuses_the_code_key_outside_the_demo(tmp_path: Path) -> None:
    result = run([sys.executable, "manage.py", "check", "--deploy"], outside_demo(tmp_path))
    assert result.returncode != 0
    assert "sops.E001" in result.stderr and "SECRET_KEY" in result.stderr
    # ... and so does every other command (migrate included): nothing runs half-configured
    assert run([sys.executable, "manage.py", "migrate", "--check"], outside_demo(tmp_path)).returncode != 0


def test_check_deploy_passes_with_a_key(tmp_path: Path) -> None:
    env = outside_demo(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), SOPS_METRICS_TOKEN="t" * 32)
    result = run([sys.executable, "manage.py", "check", "--deploy"], env)
    assert result.returncode == 0, result.stderr
    assert "sops.E001" not in result.stderr and "sops.W002" not in result.stderr


@pytest.mark.parametrize("key", ["dev-insecure-secret-key-change-me", "short"])
def test_a_weak_key_is_refused_too(tmp_path: Path, key: str) -> None:
    result = run([sys.executable, "manage.py", "check"], outside_demo(tmp_path, SECRET_KEY=key))
    assert result.returncode != 0 and "sops.E001" in result.stderr


def test_gunicorn_refuses_to_start(tmp_path: Path) -> None:
    result = run([str(BIN / "gunicorn"), "sops_api.wsgi:application", "--config", "python:sops_api.gunicorn_conf",
                  "--bind", "127.0.0.1:0", "--workers", "1"], outside_demo(tmp_path), timeout=60)
    assert result.returncode != 0
    assert "sops.E001" in result.stderr


def test_the_worker_refuses_to_start(tmp_path: Path) -> None:
    result = run([str(BIN / "celery"), "-A", "sops_api", "worker", "-P", "solo", "--without-mingle",
                  "--without-gossip"], outside_demo(tmp_path), timeout=60)
    assert result.returncode != 0
    assert "refusing to start the worker" in result.stderr and "sops.E001" in result.stderr


def test_the_demo_generates_a_private_key_and_reuses_it(tmp_path: Path) -> None:
    env = environment(tmp_path)
    probe = [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
             "'sops_api.settings'); django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"]
    first = run(probe, env)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text().strip() == first.stdout.strip()
    assert len(first.stdout.strip()) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert run(probe, env).stdout == first.stdout  # reused, so sessions survive a restart
    assert run([sys.executable, "manage.py", "check"], env).returncode == 0


def test_setting_sops_demo_0_makes_the_embedded_mode_strict(tmp_path: Path) -> None:
    result = run([sys.executable, "manage.py", "check"], environment(tmp_path, SOPS_DEMO="0"))
    assert result.returncode != 0 and "sops.E001" in result.stderr


def test_a_server_without_autovacuum_is_warned_about_and_one_with_it_is_not() -> None:
    from sops_api.checks import statistics_warnings

    (warning,) = statistics_warnings("default", "off")
    assert warning.id == "sops.W003" and not warning.is_serious()
    assert "autovacuum is off" in warning.msg and "'default'" in warning.msg and "vacuumdb" in warning.hint
    assert statistics_warnings("default", "on") == []


@pytest.mark.django_db
def test_the_database_check_reads_the_servers_setting() -> None:
    from django.db import connection

    from sops_api.checks import check_statistics, statistics_warnings

    assert check_statistics() == []  # without --database, a check reads no database
    found = check_statistics(databases=["default"])
    if connection.vendor != "postgresql":
        assert found == []
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        setting = cursor.fetchone()[0]
    assert [m.id for m in found] == [m.id for m in statistics_warnings("default", setting)]
