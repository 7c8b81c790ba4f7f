"""Security defaults of the settings: the Host header is checked, var/ and its files are private."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from django.test import Client

from sops_api import private_files

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/healthz", "/apigw/get_template_list/2/", "/metrics", "/admin/login/"])
def test_a_foreign_host_is_refused_with_400(path: str) -> None:
    response = Client().get(path, HTTP_HOST="evil.example")
    assert response.status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:8000", "localhost:8000"])
def test_the_loopback_names_are_served(host: str) -> None:
    assert Client().get("/healthz", HTTP_HOST=host).status_code == 200


def test_the_default_is_not_a_wildcard(settings) -> None:
    assert "*" not in settings.ALLOWED_HOSTS


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_files_ignore_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        folder = private_files.private_dir(tmp_path / "var" / "broker" / "in")
        secret = private_files.read_or_create_secret(tmp_path / "var" / "secret_key")
        db = private_files.private_file(tmp_path / "var" / "db.sqlite3")
    finally:
        os.umask(old)
    assert mode(folder) == 0o700 and mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "secret_key") == 0o600 and mode(db) == 0o600 and len(secret) >= 50


def test_existing_files_are_narrowed(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir(mode=0o755)
    (tmp_path / "var").chmod(0o755)
    db = tmp_path / "var" / "db.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").write_text("")
        Path(f"{db}{suffix}").chmod(0o644)
    private_files.private_dir(tmp_path / "var")
    private_files.narrow_sqlite_files(str(db))
    assert mode(tmp_path / "var") == 0o700
    assert [mode(Path(f"{db}{s}")) for s in ("", "-wal", "-shm")] == [0o600] * 3
