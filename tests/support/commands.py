"""Running an operator command in a test: its text, or its --json output parsed."""
from __future__ import annotations

import io
import json

from django.core.management import call_command


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(*args: str):
    return json.loads(run(*args, "--json"))
