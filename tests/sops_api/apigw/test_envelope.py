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
