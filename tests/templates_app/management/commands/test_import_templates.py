"""import_templates answers hostile files with one clear error line and imports nothing."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest


def inline_subprocess_tree(depth: int) -> dict[str, Any]:
    """start -> a SubProcess holding the same shape, `depth` levels down to one pause node."""
    start, end, act, f1, f2 = (f"{k}{depth}" for k in ("s", "e", "a", "f", "g"))
    if depth == 0:
        node = {"id": act, "type": "ServiceActivity", "name": "x", "incoming": f1, "outgoing": f2,
                "component": {"code": "pause_node", "data": {}}, "optional": False, "error_ignorable": False}
    else:
        node = {"id": act, "type": "SubProcess", "name": "sub", "incoming": f1, "outgoing": f2,
                "pipeline": inline_subprocess_tree(depth - 1)}
    return {"start_event": {"id": start, "type": "EmptyStartEvent", "name": "", "incoming": "", "outgoing": f1},
            "end_event": {"id": end, "type": "EmptyEndEvent", "name": "", "incoming": f2, "outgoing": ""},
            "activities": {act: node}, "gateways": {},
            "flows": {f1: {"id": f1, "source": start, "target": act, "is_default": False},
                      f2: {"id": f2, "source": act, "target": end, "is_default": False}},
            "constants": {}, "outputs": []}


def write_deep_file(path: Path, depth: int) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, depth * 20))  # json.dumps recurses; this is the test's own writer
    try:
        path.write_text(json.dumps({"name": "deep", "pipeline_tree": inline_subprocess_tree(depth)}))
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.django_db
def test_inline_subprocesses_300_deep_answer_one_line(tmp_path: Path) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from templates_app.models import Business, Template

    Business.objects.create(bk_biz_id=5, name="five")
    deep = tmp_path / "deep.json"
    write_deep_file(deep, 300)
    with pytest.raises(CommandError, match="nested deeper than 64 levels"):
        call_command("import_templates", str(deep), "--bk-biz-id", "5")
    assert not Template.objects.filter(name="deep").exists()


@pytest.mark.django_db
def test_a_recursion_error_below_the_command_is_one_line(monkeypatch: Any, tmp_path: Path) -> None:
    """Whatever recursion the import runs into, the operator sees one line, not a traceback."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from templates_app.management.commands import import_templates
    from templates_app.models import Business

    Business.objects.create(bk_biz_id=5, name="five")
    shallow = tmp_path / "ok.json"
    write_deep_file(shallow, 2)

    def recurse(**kwargs: Any) -> Any:
        return recurse(**kwargs)

    monkeypatch.setattr(import_templates, "import_templates", recurse)
    with pytest.raises(CommandError, match="nested too deeply"):
        call_command("import_templates", str(shallow), "--bk-biz-id", "5")
