"""Files only the service's own user may read: var/, the SQLite database, the broker folder, the key.

The embedded mode keeps everything under var/: the SQLite file (with its -wal and
-shm companions), the filesystem broker's messages, the demo credentials and the
generated SECRET_KEY. Each is created private (folders 0700, files 0600) whatever
the umask, and an existing one is narrowed to that on start, so another local user
cannot read task data, queued messages or keys.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Any

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _narrow(path: Path, mode: int) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    # Only what this user owns; a shared path (a mounted volume's root) is left alone.
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & ~mode:
        path.chmod(mode)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, with 0600 from the first instant (no umask window)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    _narrow(path, FILE_MODE)
    return path


def read_or_create_secret(path: Path, nbytes: int = 50) -> str:
    """A secret kept in `path` (0600): generated on first use, the same one afterwards."""
    private_dir(path.parent)
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = secrets.token_urlsafe(nbytes)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        os.replace(tmp, path)  # two processes starting at once: the last one wins, both valid
        value = path.read_text().strip()
    _narrow(path, FILE_MODE)
    return value


def narrow_sqlite_files(database: str) -> None:
    """The SQLite file and its companions, 0600 (SQLite creates -wal/-shm with the file's mode)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    for suffix in SQLITE_COMPANIONS:
        _narrow(Path(database + suffix), FILE_MODE)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Django's connection_created: a new SQLite file (the test database too) is narrowed at once."""
    if connection.vendor == "sqlite":
        narrow_sqlite_files(str(connection.settings_dict.get("NAME") or ""))
