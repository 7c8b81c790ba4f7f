"""The response envelope."""
from __future__ import annotations

import json

from sops_api.apigw.envelope import fail, ok


def test_ok_and_fail_bodies_and_the_code_metrics_read():
    good = ok({"a": "中文"}, count=3)
    assert good.status_code == 200 and good.envelope_code == 0
    assert json.loads(good.content) == {"result": True, "data": {"a": "中文"}, "message": "success", "code": 0,
                                        "count": 3}
    assert "中文".encode() in good.content  # not \\u-escaped
    bad = fail("nope", 3540400)
    assert bad.status_code == 200 and bad.envelope_code == 3540400
    assert json.loads(bad.content) == {"result": False, "data": None, "message": "nope", "code": 3540400}
    assert fail("no", 3540000, status=405).status_code == 405


def test_values_beyond_plain_json_are_written_as_djangos_encoder_writes_them():
    from datetime import UTC, datetime
    from decimal import Decimal
    from uuid import UUID

    from django.db import models
    from django.utils.functional import lazy

    class Colour(models.TextChoices):
        RED = "red", "Red"

    lazy_text = lazy(lambda: "lazy 中文", str)()
    data = {"at": datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC), "colour": Colour.RED,
            "text": lazy_text, "price": Decimal("1.50"), "uuid": UUID(int=7), "big": 2**70, 3: "int key"}
    body = json.loads(ok(data).content)["data"]
    assert body["at"] == "2026-12-01T08:30:15.123Z"  # Django's millisecond form
    assert body["colour"] == "red" and body["text"] == "lazy 中文" and body["big"] == 2**70
    assert body["price"] == "1.50" and body["uuid"] == str(UUID(int=7)) and body["3"] == "int key"


def test_the_layout_is_the_originals_for_callers_that_grep_it():
    """Shell scripts (and this project's own examples, docs/api/*.md) grep answers for
    '"state": "RUNNING"': the separators are part of what callers rely on."""
    response = ok({"name": "任务", "n": [1, 2.5, True, None]})
    assert response.content == (
        '{"result": true, "data": {"name": "任务", "n": [1, 2.5, true, null]}, "message": "success", "code": 0}'
    ).encode()
    assert response["Content-Type"] == "application/json"


def test_a_value_no_encoder_can_write_still_raises():
    import pytest

    with pytest.raises(TypeError):
        ok({"x": object()})
