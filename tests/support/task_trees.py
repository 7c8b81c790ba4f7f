"""Web trees for the task tests, built small and explicit."""
from __future__ import annotations

import copy
from typing import Any


def activity(node_id: str, code: str, data: dict | None = None, *, optional: bool = False, name: str | None = None,
             error_ignorable: bool = False) -> dict[str, Any]:
    return {"id": node_id, "type": "ServiceActivity", "name": name or node_id, "optional": optional,
            "error_ignorable": error_ignorable, "stage_name": "", "loop": {},
            "component": {"code": code, "data": data or {}}, "incoming": "", "outgoing": ""}


def var(key: str) -> str:
    return "${" + key + "}"


def hook(key: str) -> dict[str, Any]:
    return {"hook": True, "value": var(key)}


def constant(key: str, value: Any, index: int, *, source_type: str = "custom", name: str | None = None,
             source_info: dict | None = None, custom_type: str = "input", show_type: str = "show") -> dict[str, Any]:
    full = var(key)
    return {"key": full, "name": name or key, "value": value, "index": index, "desc": "",
            "source_type": source_type, "custom_type": custom_type, "source_tag": "", "validation": "",
            "source_info": source_info or {}, "show_type": show_type}


DIVERGENT = ("ParallelGateway", "ExclusiveGateway", "ConditionalParallelGateway")


class TreeBuilder:
    """Nodes plus edges (source, target); flows, incoming/outgoing, line and location are derived."""

    def __init__(self) -> None:
        self.start = {"id": "start", "type": "EmptyStartEvent", "name": "", "incoming": "", "outgoing": ""}
        self.end = {"id": "end", "type": "EmptyEndEvent", "name": "", "incoming": "", "outgoing": ""}
        self.activities: dict[str, dict] = {}
        self.gateways: dict[str, dict] = {}
        self.edges: list[tuple[str, str]] = []
        self.constants: dict[str, dict] = {}
        self.outputs: list[str] = []

    def act(self, node: dict) -> TreeBuilder:
        self.activities[node["id"]] = node
        return self

    def gateway(self, node_id: str, kind: str, **extra: Any) -> TreeBuilder:
        converge = kind == "ConvergeGateway"
        self.gateways[node_id] = {"id": node_id, "type": kind, "name": node_id,
                                  "incoming": [] if converge else "", "outgoing": "" if converge else [], **extra}
        return self

    def chain(self, *ids: str) -> TreeBuilder:
        for a, b in zip(ids, ids[1:], strict=False):
            self.edges.append((a, b))
        return self

    def const(self, key: str, value: Any, **kw: Any) -> TreeBuilder:
        self.constants[var(key)] = constant(key, value, len(self.constants), **kw)
        return self

    def build(self) -> dict[str, Any]:
        nodes = {"start": self.start, "end": self.end, **self.activities, **self.gateways}
        nodes = copy.deepcopy(nodes)
        flows = {}
        for i, (src, dst) in enumerate(self.edges):
            fid = f"flow{i}"
            flows[fid] = {"id": fid, "source": src, "target": dst, "is_default": False}
            for node, key in ((nodes[src], "outgoing"), (nodes[dst], "incoming")):
                many = (node["type"] == "ConvergeGateway" and key == "incoming") or (
                    node["type"] in DIVERGENT and key == "outgoing")
                if many:
                    node[key].append(fid)
                else:
                    node[key] = fid
        return {
            "start_event": nodes["start"], "end_event": nodes["end"],
            "activities": {k: nodes[k] for k in self.activities},
            "gateways": {k: nodes[k] for k in self.gateways},
            "flows": flows, "constants": copy.deepcopy(self.constants), "outputs": list(self.outputs),
            "line": [{"id": fid, "source": {"id": f["source"], "arrow": "Right"},
                      "target": {"id": f["target"], "arrow": "Left"}} for fid, f in flows.items()],
            "location": [{"id": nid, "x": 0, "y": 0, "type": "tasknode"} for nid in nodes],
        }


def timer_then_pause(seconds: str = "1") -> dict[str, Any]:
    """The spec's create_task example: sleep_timer (bk_timing from a variable) then pause_node, whose
    callback data is the task's output ${cb}."""
    b = TreeBuilder()
    b.act(activity("timer", "sleep_timer", {"bk_timing": hook("bk_timing")}, name="定时"))
    b.act(activity("pause", "pause_node", {}, name="暂停"))
    b.chain("start", "timer", "pause", "end")
    b.const("bk_timing", seconds, source_type="component_inputs", name="定时时间",
            source_info={"timer": ["bk_timing"]}, custom_type="")
    b.const("cb", "", source_type="component_outputs", name="回调数据", source_info={"pause": ["callback_data"]},
            custom_type="")
    b.outputs = ["${cb}"]
    return b.build()


def parallel_with_optional() -> dict[str, Any]:
    """start -> first -> PG -> (opt_a | opt_b -> keep_b) -> CG -> last -> end."""
    b = TreeBuilder()
    b.act(activity("first", "sleep_timer", {"bk_timing": hook("t_first")}))
    b.act(activity("opt_a", "sleep_timer", {"bk_timing": hook("t_a")}, optional=True))
    b.act(activity("opt_b", "sleep_timer", {"bk_timing": hook("t_b")}, optional=True))
    b.act(activity("keep_b", "sleep_timer", {"bk_timing": {"hook": False, "value": "${t_keep}"}}))
    b.act(activity("last", "sleep_timer", {"bk_timing": {"hook": False, "value": "0"}}, optional=True))
    b.gateway("pg", "ParallelGateway").gateway("cg", "ConvergeGateway")
    b.chain("start", "first", "pg", "opt_a", "cg", "last", "end")
    b.chain("pg", "opt_b", "keep_b", "cg")
    b.const("t_first", "0").const("t_a", "0").const("t_b", "0").const("t_keep", "${t_base}")
    b.const("t_base", "0", show_type="hide").const("unused", "x")
    return b.build()


def plain(value: Any) -> dict[str, Any]:
    return {"hook": False, "value": value}


def http_get(node_id: str, url: str, *, name: str | None = None) -> dict[str, Any]:
    """bk_http_request GET `url` (a literal or a ${var}); an address SOPS_HTTP_ALLOWLIST does not open fails it at once."""
    return activity(node_id, "bk_http_request", {"bk_http_request_method": plain("GET"),
                                                 "bk_http_request_url": plain(url),
                                                 "bk_http_request_timeout": plain("5")}, name=name)


def timer(node_id: str, seconds: str) -> dict[str, Any]:
    return activity(node_id, "sleep_timer", {"bk_timing": plain(seconds)})


def two_requests() -> dict[str, Any]:
    """start -> flaky (GET ${flaky_url}) -> blocked (GET ${blocked_url}) -> end; output ${code} is blocked's
    status_code."""
    b = TreeBuilder()
    b.act(http_get("flaky", var("flaky_url"))).act(http_get("blocked", var("blocked_url")))
    b.chain("start", "flaky", "blocked", "end")
    b.const("flaky_url", "").const("blocked_url", "")
    b.const("code", "none", source_type="component_outputs", source_info={"blocked": ["status_code"]},
            custom_type="")
    b.outputs = ["${code}"]
    return b.build()


def blocked_then_assign() -> dict[str, Any]:
    """start -> blocked (GET an address the allowlist does not open) -> after (var_assign code=${code}) -> end."""
    b = TreeBuilder()
    b.act(http_get("blocked", "http://169.254.169.254/latest/meta-data/"))
    b.act(activity("after", "var_assign", {"code": plain(var("code"))}))
    b.chain("start", "blocked", "after", "end")
    b.const("code", "none", source_type="component_outputs", source_info={"blocked": ["status_code"]},
            custom_type="")
    b.outputs = ["${code}"]
    return b.build()


def exclusive_on_x() -> dict[str, Any]:
    """start -> eg -> (a if ${x} == 1 | b if ${x} == 2, no default) -> cg -> end."""
    b = TreeBuilder()
    b.act(activity("a", "var_assign", {"branch": plain("a")}, name="a"))
    b.act(activity("b", "var_assign", {"branch": plain("b")}, name="b"))
    b.gateway("eg", "ExclusiveGateway").gateway("cg", "ConvergeGateway")
    b.chain("start", "eg", "a", "cg", "end").chain("eg", "b", "cg")
    b.const("x", "1")
    tree = b.build()
    to_a, to_b = tree["gateways"]["eg"]["outgoing"]
    tree["gateways"]["eg"]["conditions"] = {to_a: {"evaluate": "${x} == 1", "name": "x is 1"},
                                            to_b: {"evaluate": "${x} == 2", "name": "x is 2"}}
    return tree


def timer_then_assign(seconds: str) -> dict[str, Any]:
    """A subprocess body: start -> ctimer (sleep_timer) -> cdone (var_assign) -> end."""
    b = TreeBuilder()
    b.act(timer("ctimer", seconds)).act(activity("cdone", "var_assign", {"done": plain("yes")}))
    b.chain("start", "ctimer", "cdone", "end")
    return b.build()


def subprocess_of(template_id: int) -> dict[str, Any]:
    b = TreeBuilder()
    b.act({"id": "sub", "type": "SubProcess", "name": "sub", "template_id": template_id, "incoming": "",
           "outgoing": "", "constants": {}})
    b.chain("start", "sub", "end")
    return b.build()


def two_timers(seconds: str) -> dict[str, Any]:
    b = TreeBuilder()
    b.act(timer("t1", seconds)).act(timer("t2", seconds))
    b.chain("start", "t1", "t2", "end")
    return b.build()


def inline_nest(depth: int) -> dict[str, Any]:
    """start -> SubProcess -> end, the SubProcess holding the same shape `depth` levels down to one
    noop; built bottom-up without recursion, so any depth can be made."""
    b = TreeBuilder()
    b.act(activity("leaf", "noop"))
    b.chain("start", "leaf", "end")
    tree = b.build()
    for level in range(depth):
        b = TreeBuilder()
        b.act({"id": f"sub{level}", "type": "SubProcess", "name": f"level {level}", "incoming": "",
               "outgoing": "", "pipeline": {}})
        b.chain("start", f"sub{level}", "end")
        outer = b.build()  # copies its nodes: the inner tree goes in afterwards, not copied
        outer["activities"][f"sub{level}"]["pipeline"] = tree
        tree = outer
    return tree


def fan_out(template_id: int, width: int) -> dict[str, Any]:
    """start -> `width` SubProcess nodes in a row, each naming template `template_id` -> end."""
    b = TreeBuilder()
    ids = [f"sub{i}" for i in range(width)]
    for node_id in ids:
        b.act({"id": node_id, "type": "SubProcess", "name": node_id, "template_id": template_id,
               "incoming": "", "outgoing": "", "constants": {}})
    b.chain("start", *ids, "end")
    return b.build()
