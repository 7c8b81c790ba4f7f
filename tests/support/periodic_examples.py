"""The periodic examples: their template trees, the spec's example requests and responses, shape comparison."""
from __future__ import annotations

import ast
import copy
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "apigw.md"

# The template behind the spec's periodic examples: sleep_timer (bk_timing from a variable), then an
# optional pause_node (the create example excludes it), with the layout data the examples show.
TIMER = "node76393dcfedcf73dbc726f1c4786d"
PAUSE = "nodea5c396a3ef0f9f3cd7d4d7695f78"
START = "node4e87796ddd76b0d59337b08f385d"
END = "node375320830be9c46cd89f4069857d"
F1, F2, F3 = "linecd597f19606c1455d661f71a582d", "linecf7b7f10c87187a88b72c5f91177", "linef69b59d165fb8c0061b46588c515"


def example_tree() -> dict[str, Any]:
    def act(node_id: str, name: str, code: str, data: dict, incoming: str, outgoing: str,
            optional: bool) -> dict[str, Any]:
        return {"outgoing": outgoing, "incoming": incoming, "name": name, "error_ignorable": False,
                "component": {"code": code, "data": data}, "stage_name": "步骤1", "optional": optional,
                "type": "ServiceActivity", "id": node_id, "loop": {}}

    return {
        "activities": {
            PAUSE: act(PAUSE, "暂停", "pause_node", {}, F2, F3, True),
            TIMER: act(TIMER, "定时", "sleep_timer", {"bk_timing": {"hook": True, "value": "${bk_timing}"}},
                       F1, F2, False),
        },
        "end_event": {"incoming": F3, "outgoing": "", "type": "EmptyEndEvent", "id": END, "name": ""},
        "outputs": [],
        "flows": {
            F3: {"is_default": False, "source": PAUSE, "id": F3, "target": END},
            F1: {"is_default": False, "source": START, "id": F1, "target": TIMER},
            F2: {"is_default": False, "source": TIMER, "id": F2, "target": PAUSE},
        },
        "gateways": {},
        "line": [
            {"source": {"id": PAUSE, "arrow": "Right"}, "target": {"id": END, "arrow": "Left"}, "id": F3},
            {"source": {"id": START, "arrow": "Right"}, "id": F1, "target": {"id": TIMER, "arrow": "Left"}},
            {"source": {"id": TIMER, "arrow": "Right"}, "target": {"id": PAUSE, "arrow": "Left"}, "id": F2},
        ],
        "start_event": {"incoming": "", "outgoing": F1, "type": "EmptyStartEvent", "id": START, "name": ""},
        "constants": {
            "${bk_timing}": {"source_tag": "sleep_timer.bk_timing", "source_info": {TIMER: ["bk_timing"]},
                             "name": "定时时间", "index": 0, "custom_type": "", "value": "2", "show_type": "show",
                             "source_type": "component_inputs", "key": "${bk_timing}", "validation": "",
                             "desc": ""},
            # Referenced by nothing: pruned from the periodic task's tree, as create_task does.
            "${unused}": {"source_tag": "", "source_info": {}, "name": "unused", "index": 1,
                          "custom_type": "input", "value": "x", "show_type": "show", "source_type": "custom",
                          "key": "${unused}", "validation": "", "desc": ""},
        },
        "location": [
            {"stage_name": "步骤1", "name": "暂停", "y": 133, "x": 631, "type": "tasknode", "id": PAUSE},
            {"y": 150, "x": 80, "type": "startpoint", "id": START},
            {"y": 149, "x": 1092, "type": "endpoint", "id": END},
            {"stage_name": "步骤1", "name": "定时", "y": 133, "x": 300, "type": "tasknode", "id": TIMER},
        ],
    }


def quick_tree() -> dict[str, Any]:
    """start -> sleep_timer(0 s) -> end: what the scheduler tests fire."""
    tree = example_tree()
    tree["activities"].pop(PAUSE)
    tree["activities"][TIMER]["outgoing"] = F3
    tree["flows"].pop(F2)
    tree["flows"][F3]["source"] = TIMER
    tree["line"] = [line for line in tree["line"] if line["id"] != F2]
    tree["location"] = [loc for loc in tree["location"] if loc["id"] != PAUSE]
    tree["constants"]["${bk_timing}"]["value"] = "0"
    return tree


# --- the spec's examples ------------------------------------------------------------------------------

def _section(name: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start: end if end != -1 else len(text)]


def spec_example_response(name: str) -> dict[str, Any]:
    """The JSON under 返回结果示例 of an endpoint's section."""
    section = _section(name)
    block = section[section.index("### 返回结果示例"):]
    body = block[block.index("```") + 3:]
    body = body[: body.index("```")]
    return json.loads(body)


@dataclass
class SpecRequest:
    method: str
    path: str
    kwargs: dict[str, Any]


def spec_example_request(name: str) -> SpecRequest:
    """The HTTP example: `kwargs = {...}` and `requests.<method>("http://{...}/apigw/<path>", ...)`."""
    section = _section(name)
    block = section[section.index("### HTTP 请求调用示例"):]
    code = block[block.index("```python") + len("```python"): block.index("```", block.index("```python") + 3)]
    # The cron dict nests braces: take the balanced object.
    depth, end = 0, 0
    start = code.index("kwargs = ") + len("kwargs = ")
    for i, ch in enumerate(code[start:], start):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            end = i + 1
            break
    literal = code[start:end]
    call = re.search(r"requests\.(get|post)\(\"http://\{stageVariables\.domain\}(/apigw/[^\"]+)\"", code)
    assert call, f"no HTTP call in the {name} example"
    return SpecRequest(call.group(1), call.group(2), ast.literal_eval(literal))


# Component data holds each plugin's own inputs: compare it only as an object.
OPAQUE_KEYS = ("data",)


def shape(value: Any, key: str | None = None) -> Any:
    """A value's type skeleton; dicts keyed by node/flow/variable ids collapse to one member."""
    if isinstance(value, dict):
        if key in OPAQUE_KEYS:
            return "dict"
        keys = list(value)
        if keys and all(re.match(r"^(node|line)[0-9a-f]{28}$|^\$\{", k) for k in keys):
            return {"<id>": shape(value[keys[0]])}
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        # Items may differ by kind (a start point has no name): keep each distinct item shape.
        out: list[Any] = []
        for item in value:
            if shape(item) not in out:
                out.append(shape(item))
        return out
    return type(value).__name__


def assert_same_shape(actual: Any, documented: Any, where: str = "data") -> None:
    doc, got = shape(documented), shape(actual)
    _compare(got, doc, where)


def _compare(got: Any, doc: Any, where: str) -> None:
    if isinstance(doc, dict):
        assert isinstance(got, dict), f"{where}: expected an object, got {got!r}"
        assert set(got) == set(doc), f"{where}: keys {sorted(got)} != documented {sorted(doc)}"
        for key in doc:
            _compare(got[key], doc[key], f"{where}.{key}")
    elif isinstance(doc, list):
        assert isinstance(got, list), f"{where}: expected a list, got {got!r}"
        if doc:
            for i, item in enumerate(got):
                errors = []
                for candidate in doc:
                    try:
                        _compare(item, candidate, f"{where}[{i}]")
                        break
                    except AssertionError as exc:
                        errors.append(str(exc))
                else:
                    raise AssertionError(f"{where}[{i}] matches no documented item: {errors}")
    else:
        assert got == doc, f"{where}: type {got} != documented {doc}"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def deep(value: Any) -> Any:
    return copy.deepcopy(value)
