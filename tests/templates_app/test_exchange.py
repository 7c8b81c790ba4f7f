"""The original's export file: digest, parsing, subprocess order, business selectors."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest

from sops_common.errors import InvalidInput
from templates_app import exchange


def _data(trees=None):
    trees = trees or {"a": {"activities": {}}, "b": {"activities": {
        "sub": {"id": "sub", "type": "SubProcess", "template_id": "a"}}}}
    return {"template_source": "common",
            "template": {"1": {"id": 1, "pipeline_template_str_id": "a"},
                         "2": {"id": 2, "pipeline_template_str_id": "b", "category": "Nope"}},
            "pipeline_template_data": {"template": {"a": {"name": "A/1"}, "b": {"name": " B "}}, "tree": trees}}


def _file(data, text, salt):
    digest = hashlib.md5((text + salt).encode()).hexdigest()
    return base64.b64encode(json.dumps({"template_data": data, "digest": digest}).encode()).decode()


@pytest.mark.parametrize("writer", [
    lambda d: json.dumps(d, sort_keys=True),  # the standard library's text (older originals, and this service)
    lambda d: json.dumps(d, sort_keys=True, separators=(",", ":")).replace("/", "\\/"),  # ujson's
])
@pytest.mark.parametrize("salt", exchange.SALTS)
def test_digests_of_both_writers_and_salts_are_accepted(writer, salt):
    data = _data()
    parsed = exchange.read(_file(data, writer(data), salt))
    assert parsed.source == "common"
    assert [(i.key, i.name, i.category) for i in parsed.items] == [("a", "A/1", "Default"), ("b", "B", "Default")]
    assert parsed.items[1].subprocesses == {"sub": "a"}


def test_encode_round_trips():
    assert [i.key for i in exchange.read(exchange.encode(_data())).items] == ["a", "b"]


def test_a_changed_file_is_refused():
    data = _data()
    content = _file(data, json.dumps(data, sort_keys=True), exchange.SALTS[0])
    decoded = json.loads(base64.b64decode(content))
    decoded["template_data"]["pipeline_template_data"]["template"]["a"]["name"] = "evil"
    with pytest.raises(InvalidInput, match="模板参数非法"):
        exchange.read(base64.b64encode(json.dumps(decoded).encode()).decode())


@pytest.mark.parametrize("content", ["", "@@@", base64.b64encode(b"[1]").decode(),
                                     base64.b64encode(b'{"template_data": 1, "digest": "x"}').decode()])
def test_unreadable_files(content):
    with pytest.raises(InvalidInput, match="模板参数缺陷"):
        exchange.read(content)


def test_creation_order_puts_subprocesses_first_and_refuses_cycles():
    items = exchange.parse(_data()).items
    assert [i.key for i in exchange.creation_order(list(reversed(items)))] == ["a", "b"]
    cyclic = _data({"a": {"activities": {"s": {"type": "SubProcess", "template_id": "b"}}},
                    "b": {"activities": {"s": {"type": "SubProcess", "template_id": "a"}}}})
    with pytest.raises(InvalidInput, match="runs itself"):
        exchange.creation_order(exchange.parse(cyclic).items)


def test_a_subprocess_outside_the_file_is_refused():
    with pytest.raises(InvalidInput, match="the file does not hold"):
        exchange.parse(_data({"a": {"activities": {}}, "b": {"activities": {
            "s": {"type": "SubProcess", "template_id": "zzz"}}}}))


def test_reset_biz_selectors():
    tree = {"activities": {"n": {"type": "ServiceActivity", "component": {"data": {
                "biz_cc_id": {"hook": False, "value": 5}}}},
            "h": {"type": "ServiceActivity", "component": {"data": {"bk_biz_id": {"hook": True, "value": "${b}"}}}}},
            "constants": {"${b}": {"source_tag": "x.bk_biz_id", "value": 5},
                          "${e}": {"source_tag": "x.biz_cc_id", "value": ""}}}
    exchange.reset_biz_selectors(tree, 9)
    assert tree["activities"]["n"]["component"]["data"]["biz_cc_id"]["value"] == 9
    assert tree["activities"]["h"]["component"]["data"]["bk_biz_id"]["value"] == "${b}"  # hooked: kept
    assert tree["constants"]["${b}"]["value"] == 9 and tree["constants"]["${e}"]["value"] == ""
    exchange.reset_biz_selectors({"activities": [], "constants": None}, 9)  # malformed trees are left alone
