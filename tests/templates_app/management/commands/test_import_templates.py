"""import_templates: one object or a list, all or nothing, errors naming the template and the node."""
from __future__ import annotations

import json

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
