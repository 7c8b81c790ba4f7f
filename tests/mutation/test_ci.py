"""The CI gate's choice of lines: what changed since a base commit, committed or not."""
from __future__ import annotations

import subprocess
from pathlib import Path

from mutation.ci import changed_lines


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_changed_lines_since_a_base_include_uncommitted_edits(tmp_path: Path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    path = tmp_path / "m.py"
    path.write_text("".join(f"line{i}\n" for i in range(1, 11)))
    _git(tmp_path, "add", "m.py")
    _git(tmp_path, "commit", "-q", "-m", "base")
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert changed_lines(Path("m.py"), base, root=tmp_path) == set()

    lines = path.read_text().splitlines()
    lines[2] = "changed3"  # line 3 changed
    lines.insert(5, "new6")  # a line added after line 5
    del lines[8]  # old line 8 (now 9) deleted: the lines around it are marked
    path.write_text("\n".join(lines) + "\n")
    _git(tmp_path, "commit", "-q", "-am", "edit")
    path.write_text(path.read_text() + "line11\n")  # and one more, not committed
    assert changed_lines(Path("m.py"), base, root=tmp_path) == {3, 6, 8, 9, 11}
