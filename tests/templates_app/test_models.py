"""A template tree's digest: the same content always gives the same version id."""
from __future__ import annotations

from templates_app.models import tree_digest
from tests.support.gate import simple_tree


def test_digest_ignores_key_order_and_sees_every_change():
    tree = simple_tree()
    reordered = dict(reversed(list(tree.items())))
    assert tree_digest(tree) == tree_digest(reordered)
    changed = simple_tree()
    changed["constants"]["${x}"]["value"] = "2"
    assert tree_digest(changed) != tree_digest(tree)
    assert len(tree_digest(tree)) == 64
