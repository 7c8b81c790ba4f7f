"""The demo templates: ids the spec's examples use, and trees the engine accepts."""
from __future__ import annotations

import copy

from pipeline_engine import api
from templates_app.demo import demo_templates


def test_ids_line_up_with_the_spec_and_every_tree_validates():
    templates = demo_templates()
    by_id = {t.pk: t for t in templates}
    assert {1, 10, 30, 100} <= set(by_id)
    assert len(by_id) == len(templates)
    for template in templates:
        api.validate_pipeline(copy.deepcopy(template.tree))
