"""Execution schemes: saving (rules, ids), import and export, and the admin."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from sops_common.errors import InvalidInput
from templates_app import schemes, services
from templates_app.models import TemplateScheme
from templates_app.selectors import export_templates

pytestmark = pytest.mark.django_db


def test_ids_and_rules(world):
    template = world.templates[11]
    first = schemes.create_scheme(template=template, name=" nightly ", data='["opt_a", "opt_a"]')
    assert (first.unique_id, first.name, first.data) == ("11-nightly", "nightly", ["opt_a"])
    with pytest.raises(InvalidInput, match="already has a scheme named nightly"):
        schemes.create_scheme(template=template, name="nightly", data=[])
    for bad in ("not json", [1], {"a": 1}, [""]):
        with pytest.raises(InvalidInput, match="scheme data must be"):
            schemes.create_scheme(template=template, name="bad", data=bad)
    with pytest.raises(InvalidInput, match="scheme name must be 1 to 64 characters"):
        schemes.create_scheme(template=template, name="x" * 65, data=[])
    # an imported id is kept when free; a taken one gives way to "{template}-{name}"
    kept = schemes.create_scheme(template=template, name="kept", data=[], unique_id="abc")
    taken = schemes.create_scheme(template=world.templates[10], name="other", data=[], unique_id="abc")
    assert (kept.unique_id, taken.unique_id) == ("abc", "10-other")


def test_excluded_outside_keeps_mandatory_nodes(world):
    tree = world.templates[11].pipeline_tree
    assert schemes.excluded_outside(tree, ["opt_b", "first"]) == ["opt_a", "last"]


def test_export_then_import_carries_the_schemes(world):
    schemes.create_scheme(template=world.templates[11], name="a only", data=["opt_a"])
    exported = export_templates([11])
    assert exported[0]["schemes"] == [{"id": "11-a only", "name": "a only", "data": ["opt_a"]}]
    (copy,) = services.import_templates(items=exported, creator="alice", business=world.biz1)
    (scheme,) = copy.schemes.all()
    # the id it came with is taken (the original is still there): it gets its own
    assert (scheme.name, scheme.data, scheme.unique_id) == ("a only", ["opt_a"], f"{copy.pk}-a only")


def test_an_import_with_a_bad_scheme_imports_nothing(world):
    item = {"name": "t", "pipeline_tree": world.templates[10].pipeline_tree,
            "schemes": [{"name": "ok", "data": []}, {"name": "bad", "data": "nope"}]}
    with pytest.raises(InvalidInput, match=r"template #1 \(t\): scheme data must be a JSON list"):
        services.import_templates(items=[item], creator="alice", business=world.biz1)
    assert not TemplateScheme.objects.exists()
    with pytest.raises(InvalidInput, match="schemes must be a list"):
        services.import_templates(items=[{**item, "schemes": "x"}], creator="alice", business=world.biz1)


def test_the_export_command(world, capsys):
    schemes.create_scheme(template=world.templates[10], name="s", data=["timer"])
    call_command("export_templates", "10")
    out = json.loads(capsys.readouterr().out)
    assert out[0]["name"] == "timer then pause" and out[0]["schemes"][0]["name"] == "s"


def test_the_admin_saves_through_the_rules(admin_client, world):
    page = admin_client.post("/admin/templates_app/templatescheme/add/",
                             {"template": 11, "name": "from admin", "data": '["opt_b"]', "unique_id": "",
                              "creator": ""})
    assert page.status_code == 302, page.content[:2000]
    scheme = TemplateScheme.objects.get(name="from admin")
    assert scheme.unique_id == "11-from admin" and scheme.data == ["opt_b"] and scheme.creator == "admin"
    bad = admin_client.post("/admin/templates_app/templatescheme/add/",
                            {"template": 11, "name": "bad", "data": '[1]', "unique_id": "", "creator": ""})
    assert bad.status_code == 200 and b"scheme data must be a list of node ids" in bad.content
    assert admin_client.get("/admin/templates_app/templatescheme/").status_code == 200
