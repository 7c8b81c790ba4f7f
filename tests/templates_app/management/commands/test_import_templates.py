"""import_templates: one object or a list, all or nothing, errors naming the template and the node."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from access_app.models import Business
from templates_app.models import Template, TemplateVersion
from tests.support.commands import run, run_json
from tests.support.gate import broken_tree, simple_tree

pytestmark = pytest.mark.django_db


def write(tmp_path, payload) -> str:
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(payload, ensure_ascii=False))
    return str(path)


@pytest.fixture
def biz5():
    return Business.objects.create(bk_biz_id=5, name="ops")


def test_import_one_object(tmp_path, biz5):
    out = run("import_templates", write(tmp_path, {"name": "one", "pipeline_tree": simple_tree()}),
              "--bk-biz-id", "5", "--creator", "carol")
    listed = json.loads(out)
    template = Template.objects.get(pk=listed[0]["id"])
    assert listed == [{"id": template.pk, "name": "one"}]
    assert (template.business, template.category, template.creator, template.source) == (biz5, "Other", "carol",
                                                                                         "business")
    assert TemplateVersion.objects.filter(template=template).count() == 1


def test_import_list_as_common(tmp_path):
    payload = [{"name": "a", "category": "OpsTools", "pipeline_tree": simple_tree("a")},
               {"name": "b", "pipeline_tree": simple_tree("b")}]
    data = run_json("import_templates", write(tmp_path, payload), "--common")
    assert [d["name"] for d in data] == ["a", "b"]
    assert set(Template.objects.values_list("source", flat=True)) == {"common"}


def test_import_is_all_or_nothing_and_names_the_node(tmp_path, biz5):
    payload = [{"name": "fine", "pipeline_tree": simple_tree("a")},
               {"name": "broken", "pipeline_tree": broken_tree()}]
    with pytest.raises(CommandError) as info:
        run("import_templates", write(tmp_path, payload), "--bk-biz-id", "5")
    message = str(info.value)
    assert "template #2 (broken)" in message and "pipeline_tree is invalid" in message
    assert "nowhere" in message  # the engine names the offending flow's target
    assert Template.objects.count() == 0 and TemplateVersion.objects.count() == 0


@pytest.mark.parametrize(("payload", "fragment"), [
    ({"pipeline_tree": {}}, "name is required"),
    ({"name": "x"}, "pipeline_tree must be a JSON object"),
    ({"name": "x", "category": "Nope", "pipeline_tree": {}}, "category 'Nope'"),
    ([], "non-empty list"),
    ("text", "non-empty list"),
])
def test_import_refuses_malformed_items(tmp_path, biz5, payload, fragment):
    with pytest.raises(CommandError, match=fragment):
        run("import_templates", write(tmp_path, payload), "--bk-biz-id", "5")


def test_import_needs_a_target_and_a_readable_json_file(tmp_path, biz5):
    path = write(tmp_path, {"name": "x", "pipeline_tree": simple_tree()})
    with pytest.raises(CommandError):
        run("import_templates", path)
    with pytest.raises(CommandError, match="does not exist"):
        run("import_templates", path, "--bk-biz-id", "404")
    with pytest.raises(CommandError, match="cannot read"):
        run("import_templates", str(tmp_path / "missing.json"), "--bk-biz-id", "5")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("import_templates", str(bad), "--bk-biz-id", "5")


# --- hostile files: one clear line, nothing imported ---------------------------------------------

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


def test_inline_subprocesses_300_deep_answer_one_line(tmp_path: Path) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from templates_app.models import Template

    Business.objects.create(bk_biz_id=5, name="five")
    deep = tmp_path / "deep.json"
    write_deep_file(deep, 300)
    with pytest.raises(CommandError, match="nested deeper than 64 levels"):
        call_command("import_templates", str(deep), "--bk-biz-id", "5")
    assert not Template.objects.filter(name="deep").exists()


def test_a_recursion_error_below_the_command_is_one_line(monkeypatch: Any, tmp_path: Path) -> None:
    """Whatever recursion the import runs into, the operator sees one line, not a traceback."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from templates_app.management.commands import import_templates

    Business.objects.create(bk_biz_id=5, name="five")
    shallow = tmp_path / "ok.json"
    write_deep_file(shallow, 2)

    def recurse(**kwargs: Any) -> Any:
        return recurse(**kwargs)

    monkeypatch.setattr(import_templates, "import_templates", recurse)
    with pytest.raises(CommandError, match="nested too deeply"):
        call_command("import_templates", str(shallow), "--bk-biz-id", "5")


# --- the expansion budget: one line naming the template and the count ------------------------------

def test_inline_subprocesses_past_the_depth_budget_answer_one_line(tmp_path: Path, biz5) -> None:
    from tests.support.task_trees import inline_nest

    payload = [{"name": "fine", "pipeline_tree": simple_tree()}, {"name": "nine deep", "pipeline_tree": inline_nest(9)}]
    with pytest.raises(CommandError, match=r"template #2 \(nine deep\): "
                                           r"template\[name=nine deep\] nests subprocesses 9 levels deep"):
        run("import_templates", write(tmp_path, payload), "--bk-biz-id", "5")
    assert not Template.objects.exists()


def test_a_template_that_fans_out_past_the_node_budget_answers_one_line(tmp_path: Path, biz5) -> None:
    """Ten SubProcess nodes naming a template that unfolds into 4,332 nodes: 43,332 in all."""
    from templates_app.services import create_template
    from tests.support.task_trees import fan_out, inline_nest

    leaf = create_template(name="leaf", pipeline_tree=inline_nest(0), creator="t", business=biz5)
    below = leaf
    for n in range(3):
        below = create_template(name=f"fan {n}", pipeline_tree=fan_out(below.pk, 10), creator="t", business=biz5)
    payload = {"name": "the bomb", "pipeline_tree": fan_out(below.pk, 10)}
    with pytest.raises(CommandError, match=r"template #1 \(the bomb\): template\[name=the "
                                           r"bomb\] has 43332 nodes once its subprocesses are unfolded, more than "
                                           r"20000 \(the limit is SOPS_MAX_EXPANDED_NODES\)"):
        run("import_templates", write(tmp_path, payload), "--bk-biz-id", "5")
    assert not Template.objects.filter(name="the bomb").exists()
