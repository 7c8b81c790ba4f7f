"""Reading example responses out of spec/apigw.md (the contract), when it is beside the repo."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPEC_CANDIDATES = [ROOT.parent / "shared" / "spec" / "apigw.md", ROOT / "shared" / "spec" / "apigw.md"]


def spec_path() -> Path | None:
    return next((p for p in SPEC_CANDIDATES if p.exists()), None)


def example_response(endpoint: str) -> Any:
    """The `### 返回结果示例` block of `## endpoint`, parsed leniently (the spec has trailing commas)."""
    path = spec_path()
    if path is None:
        return None
    text = path.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(endpoint)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not section:
        raise LookupError(f"no section {endpoint} in {path}")
    block = re.search(r"### 返回结果示例\s*```[a-z]*\n(.*?)```", section.group(1), re.S)
    if not block:
        raise LookupError(f"no example response in section {endpoint}")
    cleaned = re.sub(r",(\s*[}\]])", r"\1", block.group(1))
    return json.loads(cleaned)
