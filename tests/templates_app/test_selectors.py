"""Reads on templates: the source parameter, the business scope, trees without their layout."""
from __future__ import annotations

import pytest

from access_app.models import Business
from sops_common.errors import InvalidInput, NotFound
from templates_app import selectors

pytestmark = pytest.mark.django_db


def test_parse_source():
    assert selectors.parse_source(None) == "business"
    assert selectors.parse_source("project") == "business"
    assert selectors.parse_source("common") == "common"
    with pytest.raises(InvalidInput, match="template_source must be business or common"):
        selectors.parse_source("public")


def test_get_template_stays_in_its_business(gate, templates):
    other = Business.objects.get(bk_biz_id=7)
    assert selectors.get_template(gate.biz, templates["first"].pk, "business") == templates["first"]
    with pytest.raises(NotFound, match=r"of business\[bk_biz_id=7\] does not exist"):
        selectors.get_template(other, templates["first"].pk, "business")
    with pytest.raises(NotFound, match="does not exist"):
        selectors.get_template(gate.biz, templates["deleted"].pk, "business")
    assert selectors.get_template(other, templates["common"].pk, "common") == templates["common"]
    with pytest.raises(InvalidInput, match="must be an integer"):
        selectors.get_template(gate.biz, "x", "business")


def test_info_strips_the_layout_but_not_the_stored_tree(gate, templates):
    info = selectors.template_info(templates["first"], gate.biz)
    assert "line" not in info["pipeline_tree"] and "location" not in info["pipeline_tree"]
    assert "line" in templates["first"].pipeline_tree
    assert [t["name"] for t in selectors.list_templates(gate.biz, "business")] == ["second", "first"]
