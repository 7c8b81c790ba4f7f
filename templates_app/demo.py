"""Demo data: templates whose ids and trees line up with the spec's examples.

A newcomer should be able to copy an example request from spec/apigw.md and
get a sensible answer from `make run`:

- template 1 in business 2: the sleep_timer -> pause_node tree of the
  create_task / get_periodic_task_info examples (the spec's node ids; the
  pause node is optional so create_periodic_task's example may exclude it);
- template 10 in business 2: a job_fast_execute_script template with the
  constants the create_task example fills;
- template 30 in business 1: the get_template_info example's tree.

The others fill the gaps with the shapes people try next: gateways,
conditions, variable chains, and one common template.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

SPEC_TIMER_PAUSE_TREE: dict[str, Any] = {
    "activities": {
        "nodea5c396a3ef0f9f3cd7d4d7695f78": {
            "outgoing": "linef69b59d165fb8c0061b46588c515",
            "incoming": "linecf7b7f10c87187a88b72c5f91177",
            "name": "暂停",
            "error_ignorable": False,
            "component": {"code": "pause_node", "data": {}},
            "stage_name": "步骤1",
            # The spec's tree says false; the create_periodic_task example
            # excludes this node, which only an optional node allows.
            "optional": True,
            "type": "ServiceActivity",
            "id": "nodea5c396a3ef0f9f3cd7d4d7695f78",
            "loop": {},
        },
        "node76393dcfedcf73dbc726f1c4786d": {
            "outgoing": "linecf7b7f10c87187a88b72c5f91177",
            "incoming": "linecd597f19606c1455d661f71a582d",
            "name": "定时",
            "error_ignorable": False,
            "component": {"code": "sleep_timer", "data": {"bk_timing": {"hook": True, "value": "${bk_timing}"}}},
            "stage_name": "步骤1",
            "optional": False,
            "type": "ServiceActivity",
            "id": "node76393dcfedcf73dbc726f1c4786d",
            "loop": {},
        },
    },
    "end_event": {"incoming": "linef69b59d165fb8c0061b46588c515", "outgoing": "", "type": "EmptyEndEvent",
                  "id": "node375320830be9c46cd89f4069857d", "name": ""},
    "outputs": [],
    "flows": {
        "linef69b59d165fb8c0061b46588c515": {"is_default": False, "source": "nodea5c396a3ef0f9f3cd7d4d7695f78",
                                             "id": "linef69b59d165fb8c0061b46588c515",
                                             "target": "node375320830be9c46cd89f4069857d"},
        "linecd597f19606c1455d661f71a582d": {"is_default": False, "source": "node4e87796ddd76b0d59337b08f385d",
                                             "id": "linecd597f19606c1455d661f71a582d",
                                             "target": "node76393dcfedcf73dbc726f1c4786d"},
        "linecf7b7f10c87187a88b72c5f91177": {"is_default": False, "source": "node76393dcfedcf73dbc726f1c4786d",
                                             "id": "linecf7b7f10c87187a88b72c5f91177",
                                             "target": "nodea5c396a3ef0f9f3cd7d4d7695f78"},
    },
    "gateways": {},
    "line": [
        {"source": {"id": "nodea5c396a3ef0f9f3cd7d4d7695f78", "arrow": "Right"},
         "target": {"id": "node375320830be9c46cd89f4069857d", "arrow": "Left"},
         "id": "linef69b59d165fb8c0061b46588c515"},
        {"source": {"id": "node4e87796ddd76b0d59337b08f385d", "arrow": "Right"},
         "id": "linecd597f19606c1455d661f71a582d",
         "target": {"id": "node76393dcfedcf73dbc726f1c4786d", "arrow": "Left"}},
        {"source": {"id": "node76393dcfedcf73dbc726f1c4786d", "arrow": "Right"},
         "target": {"id": "nodea5c396a3ef0f9f3cd7d4d7695f78", "arrow": "Left"},
         "id": "linecf7b7f10c87187a88b72c5f91177"},
    ],
    "start_event": {"incoming": "", "outgoing": "linecd597f19606c1455d661f71a582d", "type": "EmptyStartEvent",
                    "id": "node4e87796ddd76b0d59337b08f385d", "name": ""},
    "constants": {
        "${bk_timing}": {
            "source_tag": "sleep_timer.bk_timing",
            "source_info": {"node76393dcfedcf73dbc726f1c4786d": ["bk_timing"]},
            "name": "定时时间",
            "index": 0,
            "custom_type": "",
            "value": "2",
            "show_type": "show",
            "source_type": "component_inputs",
            "key": "${bk_timing}",
            "validation": "",
            "desc": "",
        }
    },
    "location": [
        {"stage_name": "步骤1", "name": "暂停", "y": 133, "x": 631, "type": "tasknode",
         "id": "nodea5c396a3ef0f9f3cd7d4d7695f78"},
        {"y": 150, "x": 80, "type": "startpoint", "id": "node4e87796ddd76b0d59337b08f385d"},
        {"y": 149, "x": 1092, "type": "endpoint", "id": "node375320830be9c46cd89f4069857d"},
        {"stage_name": "步骤1", "name": "定时", "y": 133, "x": 300, "type": "tasknode",
         "id": "node76393dcfedcf73dbc726f1c4786d"},
    ],
}


def job_script_tree(*, node: str, start: str, end: str, flow_in: str, flow_out: str,
                    script_type: str) -> dict[str, Any]:
    """The get_template_info example's shape: one job_fast_execute_script node and four constants."""
    return {
        "activities": {
            node: {
                "outgoing": flow_out,
                "incoming": flow_in,
                "name": "node_1",
                "error_ignorable": False,
                "component": {
                    "code": "job_fast_execute_script",
                    "data": {
                        "account": {"hook": False, "value": "root"},
                        "ip_list": {"hook": False, "value": "127.0.0.1"},
                        "script_timeout": {"hook": True, "value": "${script_timeout}"},
                        "content": {"hook": False, "value": "${content}"},
                        "script_param": {"hook": False, "value": "${params}"},
                        "script_type": {"hook": True, "value": "${script_type}"},
                    },
                },
                "optional": False,
                "type": "ServiceActivity",
                "id": node,
                "loop": None,
            }
        },
        "end_event": {"type": "EmptyEndEvent", "outgoing": "", "incoming": flow_out, "id": end, "name": ""},
        "outputs": [],
        "flows": {
            flow_in: {"is_default": False, "source": start, "id": flow_in, "target": node},
            flow_out: {"is_default": False, "source": node, "id": flow_out, "target": end},
        },
        "start_event": {"type": "EmptyStartEvent", "outgoing": flow_in, "incoming": "", "id": start, "name": ""},
        "constants": {
            "${script_type}": {
                "source_tag": "job_fast_execute_script.script_type",
                "source_info": {node: ["script_type"]},
                "name": "script type", "index": 0, "custom_type": "radio", "value": script_type,
                "show_type": "show", "source_type": "component_inputs", "key": "${script_type}",
                "validation": "^.*$", "desc": "",
            },
            "${content}": {
                "source_tag": "", "source_info": {}, "name": "content", "index": 2, "custom_type": "textarea",
                "value": "", "show_type": "show", "source_type": "custom", "key": "${content}", "desc": "",
            },
            "${script_timeout}": {
                "source_tag": "job_fast_execute_script.script_timeout",
                "source_info": {node: ["script_timeout"]},
                "name": "timeout", "index": 1, "custom_type": "input", "value": "", "show_type": "show",
                "source_type": "component_inputs", "key": "${script_timeout}", "validation": "^.*$", "desc": "",
            },
            "${params}": {
                "source_tag": "", "source_info": {}, "name": "params", "index": 3, "custom_type": "input",
                "value": "", "show_type": "show", "source_type": "custom", "key": "${params}", "desc": "",
            },
        },
        "gateways": {},
    }


# The get_template_info example, ids and all.
SPEC_JOB_SCRIPT_TREE = job_script_tree(
    node="631b6576cc5dfbdcaa4f510ce88a7e67", start="48afea1016ab70ee37179fa0eb1e1a14",
    end="60c81e383d048d8a3c574d3436e1b82c", flow_in="fb2f3a8b533ca5c67e2440b4164f7632",
    flow_out="44ab36ebf4cf119edaf2d20401da87e4", script_type="4",
)


@dataclass
class TreeBuilder:
    """Builds a web tree with stable ids, so the demo is the same on every machine."""

    seed: str
    activities: dict[str, dict] = field(default_factory=dict)
    gateways: dict[str, dict] = field(default_factory=dict)
    flows: dict[str, dict] = field(default_factory=dict)
    constants: dict[str, dict] = field(default_factory=dict)
    nodes: dict[str, dict] = field(default_factory=dict)

    def _id(self, prefix: str, label: str) -> str:
        return prefix + hashlib.md5(f"{self.seed}/{label}".encode()).hexdigest()[:28]

    def __post_init__(self) -> None:
        self.start = {"id": self._id("node", "start"), "type": "EmptyStartEvent", "name": "",
                      "incoming": "", "outgoing": ""}
        self.end = {"id": self._id("node", "end"), "type": "EmptyEndEvent", "name": "",
                    "incoming": "", "outgoing": ""}
        self.nodes = {"start": self.start, "end": self.end}

    def activity(self, label: str, name: str, code: str, data: dict[str, Any] | None = None,
                 **flags: Any) -> str:
        node: dict[str, Any] = {
            "id": self._id("node", label), "type": "ServiceActivity", "name": name, "stage_name": "步骤1",
            "incoming": "", "outgoing": "", "error_ignorable": False, "optional": False, "loop": {},
            "component": {"code": code, "data": {k: {"hook": False, "value": v} for k, v in (data or {}).items()}},
        }
        node.update(flags)
        self.nodes[label] = node
        self.activities[node["id"]] = node
        return label

    def gateway(self, label: str, kind: str, name: str = "") -> str:
        node: dict[str, Any] = {"id": self._id("node", label), "type": kind, "name": name, "incoming": [], "outgoing": []}
        if kind in ("ExclusiveGateway", "ConditionalParallelGateway"):
            node["conditions"] = {}
        self.nodes[label] = node
        self.gateways[node["id"]] = node
        return label

    def constant(self, key: str, name: str, value: Any, index: int, custom_type: str = "input",
                 output_of: tuple[str, str] | None = None) -> None:
        """A custom constant, or with `output_of=(node label, output key)` one a node's output fills."""
        entry = {
            "key": key, "name": name, "value": value, "index": index, "desc": "", "custom_type": custom_type,
            "source_type": "custom", "source_tag": "", "source_info": {}, "show_type": "show", "validation": "",
        }
        if output_of:
            label, output_key = output_of
            node = self.nodes[label]
            entry.update(source_type="component_outputs", custom_type="", show_type="hide",
                         source_tag=f"{node['component']['code']}.{output_key}",
                         source_info={node["id"]: [output_key]})
        self.constants[key] = entry

    def link(self, source: str, target: str, condition: str | None = None) -> str:
        src, dst = self.nodes[source], self.nodes[target]
        fid = self._id("line", f"{source}->{target}")
        self.flows[fid] = {"id": fid, "source": src["id"], "target": dst["id"], "is_default": False}
        for node, side in ((src, "outgoing"), (dst, "incoming")):
            if isinstance(node[side], list):
                node[side].append(fid)
            elif node[side]:
                node[side] = [node[side], fid]
            else:
                node[side] = fid
        if condition is not None:
            src["conditions"][fid] = {"evaluate": condition, "name": condition}
        return fid

    def chain(self, *labels: str) -> None:
        for source, target in zip(labels, labels[1:], strict=False):
            self.link(source, target)

    def build(self, outputs: list[str] | None = None) -> dict[str, Any]:
        return copy.deepcopy({
            "start_event": self.start, "end_event": self.end, "activities": self.activities,
            "gateways": self.gateways, "flows": self.flows, "constants": self.constants,
            "outputs": outputs or [],
        })


def parallel_tree() -> dict[str, Any]:
    b = TreeBuilder("demo-parallel")
    b.constant("${bk_timing}", "定时时间", "1", 0)
    b.gateway("fork", "ParallelGateway", "parallel")
    b.activity("timer", "定时", "sleep_timer", {"bk_timing": "${bk_timing}"}, optional=True)
    b.activity("pause", "暂停", "pause_node", optional=True)
    b.gateway("join", "ConvergeGateway", "converge")
    b.chain("start", "fork")
    b.chain("fork", "timer", "join")
    b.chain("fork", "pause", "join")
    b.chain("join", "end")
    return b.build()


def exclusive_tree() -> dict[str, Any]:
    b = TreeBuilder("demo-exclusive")
    b.constant("${env}", "environment", "test", 0)
    b.constant("${bk_timing}", "定时时间", "1", 1)
    b.gateway("choose", "ExclusiveGateway", "prod or not")
    b.activity("prod", "暂停 (prod: wait for a person)", "pause_node")
    b.activity("test", "定时 (test: wait a second)", "sleep_timer", {"bk_timing": "${bk_timing}"})
    b.gateway("join", "ConvergeGateway", "converge")
    b.chain("start", "choose")
    b.link("choose", "prod", '${env} == "prod"')
    b.link("choose", "test", '${env} != "prod"')
    b.chain("prod", "join")
    b.chain("test", "join")
    b.chain("join", "end")
    return b.build()


def variables_tree() -> dict[str, Any]:
    """var_assign computes a greeting from ${name}; the task's outputs carry it; noop closes the chain."""
    b = TreeBuilder("demo-variables")
    b.constant("${name}", "name", "world", 0)
    b.activity("assign", "compose greeting", "var_assign", {"greeting": "hello ${name}"})
    b.activity("done", "no operation", "noop")
    b.constant("${greeting}", "greeting", "", 1, output_of=("assign", "greeting"))
    b.chain("start", "assign", "done", "end")
    return b.build(outputs=["${greeting}"])


def timer_chain_tree() -> dict[str, Any]:
    """Three short timers in a row: a task that finishes on its own, for trying the status endpoints."""
    b = TreeBuilder("demo-chain")
    b.constant("${bk_timing}", "定时时间", "1", 0)
    for step in ("one", "two", "three"):
        b.activity(step, f"定时 {step}", "sleep_timer", {"bk_timing": "${bk_timing}"})
    b.chain("start", "one", "two", "three", "end")
    return b.build()


@dataclass(frozen=True)
class DemoTemplate:
    pk: int
    bk_biz_id: int | None  # None: a common template
    name: str
    tree: dict[str, Any]
    category: str = "Other"
    description: str = ""


def demo_templates() -> list[DemoTemplate]:
    ids = TreeBuilder("demo-script")
    job_tree_10 = job_script_tree(
        node=ids._id("node", "script"), start=ids._id("node", "start"), end=ids._id("node", "end"),
        flow_in=ids._id("line", "in"), flow_out=ids._id("line", "out"),
        script_type="1",  # shell, so the create_task example's "echo 1" runs as written
    )
    return [
        DemoTemplate(1, 2, "demo: timer then pause", copy.deepcopy(SPEC_TIMER_PAUSE_TREE),
                     description="The create_task / periodic task examples' tree: wait ${bk_timing} s, then pause."),
        DemoTemplate(2, 2, "demo: parallel branches", parallel_tree(), "OpsTools",
                     "A parallel gateway; both branches are optional nodes."),
        DemoTemplate(3, 2, "demo: exclusive gateway", exclusive_tree(), "OpsTools",
                     'Pauses when ${env} is "prod", waits a second otherwise.'),
        DemoTemplate(4, 2, "demo: variables", variables_tree(), "DevTools",
                     "var_assign then noop: ${greeting} = hello ${name}, returned in the task's outputs."),
        DemoTemplate(5, 2, "demo: timer chain", timer_chain_tree(), "DevTools",
                     "Three one-second timers; finishes by itself."),
        DemoTemplate(10, 2, "demo: fast execute script", job_tree_10, "OpsTools",
                     "The create_task example's template (script execution is off unless "
                     "SOPS_SCRIPT_EXECUTION_ENABLED is set)."),
        DemoTemplate(30, 1, "new20180416213944", copy.deepcopy(SPEC_JOB_SCRIPT_TREE),
                     description="The get_template_info example."),
        DemoTemplate(100, None, "common: timer then pause", copy.deepcopy(SPEC_TIMER_PAUSE_TREE),
                     description="A common template every business may use."),
    ]
