"""The SDK examples of the service's documentation (docs/*.md, blocks tagged ```python sdk) run against the live
server: they are executed here, where the SDK is installed (tests/docs/test_examples.py runs the others)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
SDK_BLOCK = re.compile(r"^```python sdk\n(.*?)^```", re.S | re.M)
DEMO_URL = "http://127.0.0.1:8000"


def sdk_examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in SDK_BLOCK.finditer(text):
            found.append((f"{page.relative_to(DOCS)}:{text.count(chr(10), 0, match.start()) + 1}", match.group(1)))
    return found


def test_the_documentation_has_sdk_examples():
    assert any(where.startswith("quickstart.md") for where, _ in sdk_examples())


@pytest.mark.parametrize(("where", "code"), sdk_examples(), ids=[w for w, _ in sdk_examples()])
def test_sdk_example_runs(where, code, live):
    # The examples use the demo's placeholder credentials (make run passes --spec-placeholders).
    done = subprocess.run([sys.executable, "-c", code.replace(DEMO_URL, live.endpoint.rstrip("/"))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{where}:\n{done.stdout}\n{done.stderr}"
