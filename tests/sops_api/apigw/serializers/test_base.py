"""Input.parse: one serializer per class and thread, and nothing of one call left for the next."""
from __future__ import annotations

import threading

import pytest

from sops_api.apigw.serializers.base import Input, _validator
from sops_api.apigw.serializers.tasks import CreateTaskInput
from sops_common.errors import InvalidInput


def test_a_failed_call_leaves_nothing_for_the_next():
    with pytest.raises(InvalidInput, match="flow_type must be one of"):
        CreateTaskInput.parse({"name": "a", "flow_type": "nope"})
    good = CreateTaskInput.parse({"name": "b"})
    assert good["name"] == "b" and good["flow_type"] == "common" and good["constants"] == {}
    good["constants"]["x"] = 1  # a default is a new object each call, not one shared by every request
    assert CreateTaskInput.parse({"name": "c"})["constants"] == {}
    with pytest.raises(InvalidInput, match="name must be a string"):
        CreateTaskInput.parse({})


def test_each_class_and_thread_has_its_own_validator():
    class Other(Input):
        pass

    mine = _validator(CreateTaskInput)
    assert _validator(CreateTaskInput) is mine and _validator(Other) is not mine
    seen: list[Input] = []
    worker = threading.Thread(target=lambda: seen.append(_validator(CreateTaskInput)))
    worker.start()
    worker.join()
    assert seen and seen[0] is not mine and isinstance(seen[0], CreateTaskInput)
