"""Template writes: trees that name another template as a SubProcess are validated with that tree in place."""
from __future__ import annotations

import pytest

from access_app.models import Business
from sops_common.errors import InvalidInput
from templates_app import services
from tests.support import task_trees as trees

pytestmark = pytest.mark.django_db


@pytest.fixture
def biz():
    return Business.objects.create(bk_biz_id=2, name="blueking")


def test_a_subprocess_by_template_id_validates(biz):
    child = services.create_template(name="child", pipeline_tree=trees.two_timers("1"), creator="a", business=biz)
    parent = services.create_template(name="parent", pipeline_tree=trees.subprocess_of(child.pk),
                                      creator="a", business=biz)
    # The stored tree keeps the reference; only validation saw it unfolded.
    assert "pipeline" not in parent.pipeline_tree["activities"]["sub"]


def test_a_missing_or_foreign_subprocess_template_is_refused(biz):
    other = Business.objects.create(bk_biz_id=7, name="other")
    foreign = services.create_template(name="x", pipeline_tree=trees.two_timers("1"), creator="a", business=other)
    for template_id in (999_999, foreign.pk):
        with pytest.raises(InvalidInput, match=rf"refers to template of business\[bk_biz_id=2\]\[id={template_id}\]"):
            services.create_template(name="p", pipeline_tree=trees.subprocess_of(template_id), creator="a",
                                     business=biz)


def test_a_template_cannot_include_itself(biz):
    template = services.create_template(name="loop", pipeline_tree=trees.two_timers("1"), creator="a", business=biz)
    with pytest.raises(InvalidInput, match="include itself"):
        services.update_template_tree(template=template, pipeline_tree=trees.subprocess_of(template.pk), editor="a")
