"""The response envelope."""
from __future__ import annotations

import json
from datetime import UTC

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


def test_values_orjson_would_write_differently_are_written_as_djangos_encoder_writes_them():
    from datetime import datetime
    from decimal import Decimal
    from uuid import UUID

    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import models
    from django.utils.functional import lazy

    class Colour(models.TextChoices):
        RED = "red", "Red"

    lazy_text = lazy(lambda: "lazy 中文", str)()
    data = {"at": datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC), "colour": Colour.RED,
            "text": lazy_text, "price": Decimal("1.50"), "uuid": UUID(int=7), "big": 2**70, 3: "int key"}
    body = json.loads(ok(data).content)["data"]
    assert body == json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    assert body["at"] == "2026-12-01T08:30:15.123Z"  # Django's millisecond form, not orjson's
    assert body["colour"] == "red" and body["text"] == "lazy 中文" and body["big"] == 2**70
    assert body["3"] == "int key"


def test_plain_bodies_are_compact_utf8_and_a_float_json_cannot_hold_is_null():
    response = ok({"name": "任务", "n": [1, 2.5, True, None]})
    assert response.content == '{"result":true,"data":{"name":"任务","n":[1,2.5,true,null]},"message":"success","code":0}'.encode()
    assert response["Content-Type"] == "application/json"
    assert json.loads(ok({"x": float("nan")}).content)["data"] == {"x": None}


def test_a_value_no_encoder_can_write_still_raises():
    import pytest

    with pytest.raises(TypeError):
        ok({"x": object()})
