"""Builders for web pipeline trees used by the engine tests (and reusable by others).

    b = TreeBuilder()
    a = b.act("a", "noop")
    b.chain(b.start_id, a, b.end_id)
    tree = b.build()
"""
from __future__ import annotations

import copy
from typing import Any


class TreeBuilder:
    def __init__(self, start_id: str = "start", end_id: str = "end") -> None:
        self.start_id, self.end_id = start_id, end_id
        self.nodes: dict[str, dict[str, Any]] = {
            start_id: {"id": start_id, "type": "EmptyStartEvent", "name": "", "incoming": [], "outgoing": []},
            end_id: {"id": end_id, "type": "EmptyEndEvent", "name": "", "incoming": [], "outgoing": []},
        }
        self.flows: dict[str, dict[str, Any]] = {}
        self.constants: dict[str, dict[str, Any]] = {}
        self.outputs: list[str] = []
        self._flow_seq = 0

    def act(self, node_id: str, code: str = "noop", data: dict[str, Any] | None = None, *,
            name: str | None = None, **flags: Any) -> str:
        self.nodes[node_id] = {
            "id": node_id, "type": "ServiceActivity", "name": name or node_id, "incoming": [], "outgoing": [],
            "component": {"code": code, "data": {k: {"hook": False, "value": v} for k, v in (data or {}).items()}},
            "error_ignorable": False, "optional": False, **flags,
        }
        return node_id

    def sub(self, node_id: str, child: dict[str, Any], *, name: str | None = None) -> str:
        self.nodes[node_id] = {"id": node_id, "type": "SubProcess", "name": name or node_id, "incoming": [],
                               "outgoing": [], "pipeline": child}
        return node_id

    def gw(self, node_id: str, gw_type: str, *, name: str | None = None) -> str:
        self.nodes[node_id] = {"id": node_id, "type": gw_type, "name": name or node_id, "incoming": [],
                               "outgoing": []}
        if gw_type in ("ExclusiveGateway", "ConditionalParallelGateway"):
            self.nodes[node_id]["conditions"] = {}
        return node_id

    def flow(self, source: str, target: str, *, condition: str | None = None, default: bool = False,
             flow_id: str | None = None) -> str:
        self._flow_seq += 1
        fid = flow_id or f"f{self._flow_seq}_{source}_{target}"
        self.flows[fid] = {"id": fid, "source": source, "target": target, "is_default": False}
        self.nodes[source]["outgoing"].append(fid)
        self.nodes[target]["incoming"].append(fid)
        if condition is not None:
            self.nodes[source]["conditions"][fid] = {"evaluate": condition, "name": fid}
        if default:
            self.nodes[source]["default_condition"] = {"flow_id": fid}
        return fid

    def chain(self, *node_ids: str) -> None:
        for a, b in zip(node_ids, node_ids[1:], strict=False):
            self.flow(a, b)

    def const(self, key: str, value: Any = "", *, source_type: str = "custom",
              source_info: dict[str, list[str]] | None = None, show_type: str = "show") -> None:
        self.constants[key] = {"key": key, "name": key, "value": value, "source_type": source_type,
                               "source_info": source_info or {}, "custom_type": "input", "show_type": show_type,
                               "index": len(self.constants)}

    def build(self) -> dict[str, Any]:
        nodes = copy.deepcopy(self.nodes)
        for node in nodes.values():
            if node["type"] not in ("ParallelGateway", "ExclusiveGateway", "ConditionalParallelGateway",
                                    "ConvergeGateway"):
                node["outgoing"] = node["outgoing"][0] if len(node["outgoing"]) == 1 else (
                    "" if not node["outgoing"] else node["outgoing"])
        ids = list(nodes)
        start = nodes.pop(self.start_id)
        start["incoming"] = ""
        end = nodes.pop(self.end_id)
        return {
            "start_event": start, "end_event": end,
            "activities": {k: v for k, v in nodes.items() if v["type"] in ("ServiceActivity", "SubProcess")},
            "gateways": {k: v for k, v in nodes.items() if v["type"].endswith("Gateway")},
            "flows": copy.deepcopy(self.flows), "constants": copy.deepcopy(self.constants),
            "outputs": list(self.outputs),
            # Layout, as the web editor saves it: kept by the engine, followed by tree editing.
            "line": [{"id": fid, "source": {"id": f["source"], "arrow": "Right"},
                      "target": {"id": f["target"], "arrow": "Left"}} for fid, f in self.flows.items()],
            "location": [{"id": node_id, "x": 0, "y": 0} for node_id in ids],
        }


def linear(n: int, code: str = "noop", data: dict[str, Any] | None = None) -> dict[str, Any]:
    b = TreeBuilder()
    ids = [b.act(f"n{i}", code, data) for i in range(n)]
    b.chain(b.start_id, *ids, b.end_id)
    return b.build()


def parallel(branches: int, code: str = "noop", *, per_branch: int = 1) -> dict[str, Any]:
    b = TreeBuilder()
    pg = b.gw("pg", "ParallelGateway")
    cg = b.gw("cg", "ConvergeGateway")
    b.chain(b.start_id, pg)
    for i in range(branches):
        ids = [b.act(f"b{i}_{j}", code) for j in range(per_branch)]
        b.chain(pg, *ids, cg)
    b.chain(cg, b.end_id)
    return b.build()


# --- small trees several test modules share -----------------------------------


def exclusive(condition_a: str, condition_b: str, default: bool = False) -> dict:
    """start -> g (ExclusiveGateway: a1 if condition_a, a2 if condition_b) -> c -> end; ${x} is 5."""
    b = TreeBuilder()
    b.const("${x}", 5)
    g = b.gw("g", "ExclusiveGateway")
    a1, a2 = b.act("a1"), b.act("a2")
    c = b.gw("c", "ConvergeGateway")
    b.chain(b.start_id, g)
    b.flow(g, a1, condition=condition_a)
    b.flow(g, a2, condition=condition_b, default=default)
    b.chain(a1, c)
    b.chain(a2, c)
    b.chain(c, b.end_id)
    return b.build()


def loop_tree(limit_expr: str) -> dict:
    """start -> a -> g, and g back to a while `limit_expr` holds, else to the end."""
    b = TreeBuilder()
    a = b.act("a", "noop")
    g = b.gw("g", "ExclusiveGateway")
    b.chain(b.start_id, a, g)
    b.flow(g, a, condition=limit_expr)
    b.flow(g, b.end_id, default=True)
    return b.build()


def failing(**flags) -> dict:
    """start -> f (test_fail: fails with "boom", outputs partial "p1" into ${partial}) -> after -> end."""
    b = TreeBuilder()
    b.const("${partial}", "", source_type="component_outputs", source_info={"f": ["partial"]})
    b.act("f", "test_fail", {"message": "boom", "partial": "p1"}, **flags)
    b.act("after", "var_assign", {"seen": "${partial}"})
    b.chain(b.start_id, "f", "after", b.end_id)
    return b.build()


def in_subprocess(node_id: str, code: str, sp_id: str = "sp") -> dict:
    """start -> sp_id (a SubProcess: start -> node_id (code) -> end) -> end."""
    inner = TreeBuilder()
    inner.act(node_id, code)
    inner.chain(inner.start_id, node_id, inner.end_id)
    b = TreeBuilder()
    b.sub(sp_id, inner.build())
    b.chain(b.start_id, sp_id, b.end_id)
    return b.build()


def callback_tree(code: str = "pause_node") -> dict:
    """start -> p (pause_node, or test_wait in a worker; its callback data into the output ${cb}) -> end."""
    b = TreeBuilder()
    b.const("${cb}", "", source_type="component_outputs", source_info={"p": ["callback_data"]})
    b.outputs = ["${cb}"]
    b.act("p", code)
    b.chain(b.start_id, "p", b.end_id)
    return b.build()


def waiting_tree(code: str = "pause_node") -> dict:
    """start -> p (pause_node, or test_wait in a worker; its callback data into ${cb}) -> after (noop) -> end."""
    b = TreeBuilder()
    b.const("${cb}", "", source_type="component_outputs", source_info={"p": ["callback_data"]})
    b.outputs = ["${cb}"]
    b.act("p", code)
    b.act("after", "noop")
    b.chain(b.start_id, "p", "after", b.end_id)
    return b.build()
