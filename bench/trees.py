"""Web-tree generators for the benchmark scenarios.

The trees follow the spec's web format (start_event, end_event, activities,
gateways, flows, constants, outputs) so the same generator feeds both
`pipeline_engine.api.run_pipeline` and the HTTP template endpoints.
Ids are deterministic per prefix so a failing run is easy to read back.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any


class TreeBuilder:
    """Build a web tree node by node; flows are added with `link`."""

    def __init__(self, prefix: str = "n") -> None:
        self.prefix = prefix
        self._ids = itertools.count()
        self.start_id = self._new_id("start")
        self.end_id = self._new_id("end")
        self.activities: dict[str, dict[str, Any]] = {}
        self.gateways: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, dict[str, Any]] = {}
        self.constants: dict[str, dict[str, Any]] = {}
        self.outputs: list[str] = []
        self._start: dict[str, Any] = {"id": self.start_id, "type": "EmptyStartEvent", "name": "",
                                       "incoming": "", "outgoing": ""}
        self._end: dict[str, Any] = {"id": self.end_id, "type": "EmptyEndEvent", "name": "",
                                     "incoming": "", "outgoing": ""}

    def _new_id(self, kind: str) -> str:
        # 32 characters like the original's uuid hex ids, readable in a dump.
        # A fixed-width counter keeps ids unique (no "act1"+pad == "act10" clash).
        return f"{(self.prefix + kind)[:16]:x<16}{next(self._ids):016d}"

    def _node(self, node_id: str) -> dict[str, Any]:
        if node_id == self.start_id:
            return self._start
        if node_id == self.end_id:
            return self._end
        return self.activities.get(node_id) or self.gateways[node_id]

    def activity(self, code: str, data: dict[str, Any] | None = None, name: str = "",
                 **extra: Any) -> str:
        node_id = self._new_id("act")
        self.activities[node_id] = {
            "id": node_id, "type": "ServiceActivity", "name": name or f"{code} {len(self.activities)}",
            "incoming": [], "outgoing": "", "optional": False, "error_ignorable": False,
            "component": {"code": code,
                          "data": {k: {"hook": False, "value": v} for k, v in (data or {}).items()}},
            "loop": None, **extra,
        }
        return node_id

    def gateway(self, kind: str, **extra: Any) -> str:
        node_id = self._new_id("gw")
        self.gateways[node_id] = {"id": node_id, "type": kind, "name": kind,
                                  "incoming": [], "outgoing": [], **extra}
        return node_id

    def link(self, source: str, target: str) -> str:
        flow_id = self._new_id("flow")
        self.flows[flow_id] = {"id": flow_id, "source": source, "target": target, "is_default": False}
        src, dst = self._node(source), self._node(target)
        if isinstance(src["outgoing"], list):
            src["outgoing"].append(flow_id)
        else:
            src["outgoing"] = flow_id
        if isinstance(dst["incoming"], list):
            dst["incoming"].append(flow_id)
        else:
            dst["incoming"] = flow_id
        return flow_id

    def constant(self, key: str, value: Any, name: str = "") -> None:
        full = "${" + key + "}"
        self.constants[full] = {
            "key": full, "name": name or key, "value": value, "index": len(self.constants),
            "desc": "", "source_type": "custom", "source_tag": "", "source_info": {},
            "custom_type": "input", "show_type": "show", "validation": "",
        }

    def chain(self, start: str, node_ids: Iterable[str]) -> str:
        """Link `start` through every node in order; return the last one."""
        last = start
        for node_id in node_ids:
            self.link(last, node_id)
            last = node_id
        return last

    def build(self) -> dict[str, Any]:
        # A single-incoming activity keeps a plain string, as the spec's examples do.
        for act in self.activities.values():
            if isinstance(act["incoming"], list) and len(act["incoming"]) == 1:
                act["incoming"] = act["incoming"][0]
        return {
            "start_event": self._start, "end_event": self._end,
            "activities": self.activities, "gateways": self.gateways, "flows": self.flows,
            "constants": self.constants, "outputs": list(self.outputs),
            "line": [], "location": [],
        }


def linear_chain(n: int, code: str = "noop", data: dict[str, Any] | None = None,
                 prefix: str = "lin") -> dict[str, Any]:
    """start -> n activities of `code` in a row -> end."""
    b = TreeBuilder(prefix)
    acts = [b.activity(code, data) for _ in range(n)]
    last = b.chain(b.start_id, acts)
    b.link(last, b.end_id)
    return b.build()


def mixed_chain(codes: list[tuple[str, dict[str, Any] | None]], prefix: str = "mix") -> dict[str, Any]:
    """start -> one activity per (code, data) in order -> end."""
    b = TreeBuilder(prefix)
    acts = [b.activity(code, data) for code, data in codes]
    last = b.chain(b.start_id, acts)
    b.link(last, b.end_id)
    return b.build()


def parallel(branches: int, code: str = "noop", per_branch: int = 1, prefix: str = "par") -> dict[str, Any]:
    """start -> ParallelGateway -> `branches` chains of `per_branch` activities -> ConvergeGateway -> end."""
    b = TreeBuilder(prefix)
    split = b.gateway("ParallelGateway")
    join = b.gateway("ConvergeGateway")
    b.gateways[split]["converge_gateway_id"] = join
    b.link(b.start_id, split)
    for _ in range(branches):
        acts = [b.activity(code) for _ in range(per_branch)]
        last = b.chain(split, acts)
        b.link(last, join)
    b.link(join, b.end_id)
    return b.build()


def exclusive_small(choice: int = 1, prefix: str = "exc") -> dict[str, Any]:
    """start -> noop -> ExclusiveGateway (on ${choice}) -> one of two noops -> ConvergeGateway -> end.

    Five executed nodes; the condition is evaluated by the engine's safe evaluator.
    """
    b = TreeBuilder(prefix)
    b.constant("choice", choice)
    first = b.activity("noop")
    gate = b.gateway("ExclusiveGateway", conditions={})
    join = b.gateway("ConvergeGateway")
    b.gateways[gate]["converge_gateway_id"] = join
    b.chain(b.start_id, [first, gate])
    for value in (1, 2):
        act = b.activity("noop")
        flow = b.link(gate, act)
        b.gateways[gate]["conditions"][flow] = {"evaluate": f"${{choice}} == {value}", "name": f"choice {value}"}
        b.link(act, join)
    b.link(join, b.end_id)
    return b.build()


def node_count(tree: dict[str, Any]) -> int:
    """Activities (service and subprocess), counted recursively: the 'nodes' of nodes/s."""
    total = 0
    for act in tree.get("activities", {}).values():
        total += 1
        if act.get("type") == "SubProcess":
            total += node_count(act.get("pipeline") or {})
    return total
