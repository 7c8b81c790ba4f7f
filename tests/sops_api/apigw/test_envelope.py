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


def test_the_body_holds_the_values_the_standard_encoder_gave_for_every_kind():
    import datetime as dt
    import decimal
    import uuid

    from django.core.serializers.json import DjangoJSONEncoder
    from django.utils.translation import gettext_lazy

    from sops_api.apigw.envelope import render
    from tasks_app.models import OperateSource

    moment = dt.datetime(2026, 12, 1, 8, 30, 1, 123456, tzinfo=dt.UTC)
    body = {"when": moment, "day": moment.date(), "clock": moment.time(), "took": dt.timedelta(seconds=90),
            "amount": decimal.Decimal("1.50"), "id": uuid.UUID(int=7), "lazy": gettext_lazy("yes"),
            "source": OperateSource.API, "big": 2**70, "nested": [{"中文": [1.5, None, True, "a\tb"]}],
            "float": 1e16}
    expected = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    assert json.loads(render(body)) == expected
    assert json.loads(render({"when": moment}))["when"] == "2026-12-01T08:30:01.123Z"  # Django's text, ms
    assert json.loads(render({1: "int key"})) == {"1": "int key"}  # refused by orjson: the standard library
    assert "中文".encode() in render({"k": "中文"})
    response = ok({"n": 2**70})
    assert response["Content-Type"] == "application/json" and json.loads(response.content)["data"] == {"n": 2**70}
