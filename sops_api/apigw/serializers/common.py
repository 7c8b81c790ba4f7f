"""Output shapes several endpoints share: a pipeline tree, its nodes, flows and constants.

These serializers only document what the selectors return (they never render a response);
the schemathesis test checks every answer against them, so a drift fails the suite.
The node kinds are described in docs/pipeline-tree.md.
"""
from __future__ import annotations

from rest_framework import serializers

from .fields import AnyValue, Boolean, Choice, Integer, List, Object, String

NODE_ID_EXAMPLE = "node76393dcfedcf73dbc726f1c4786d"
FLOW_ID_EXAMPLE = "linecd597f19606c1455d661f71a582d"

# `incoming` of a node joined by several flows is a list; of other nodes a flow id ("" for the start).
FLOW_IDS_SCHEMA = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class Constant(serializers.Serializer):
    """A global variable of a tree, `constants["${key}"]`. Keys not listed here are kept as stored."""

    key = String(help_text="the variable's key, ${key} (the same as its key in `constants`)", example="${bk_timing}")
    name = String(help_text="display name", example="定时时间")
    index = Integer(required=False, help_text="display order in the template", example=0)
    desc = String(required=False, help_text="description", example="")
    source_type = String(required=False, example="component_inputs",
                         help_text="custom (a variable of its own), component_inputs (a node's input ticked as a "
                                   "variable) or component_outputs (a node's output written into it)")
    custom_type = String(required=False, example="input",
                         help_text="with source_type custom: input, textarea, datetime, int, ...")
    source_tag = String(required=False, example="sleep_timer.bk_timing",
                        help_text="with source_type component_inputs/component_outputs: component.field")
    source_info = Object(required=False, example={NODE_ID_EXAMPLE: ["bk_timing"]},
                         help_text="with source_type component_inputs/component_outputs: {node id: [field, ...]}")
    value = AnyValue(required=False, allow_null=True, example="2",
                     help_text="the value (any JSON value; its type is the template's)")
    show_type = String(required=False, example="show", help_text="show (in the form) or hide")
    validation = String(required=False, example="", help_text="a regular expression the form applies")


class Component(serializers.Serializer):
    code = String(help_text="the component's code (plugin; docs/components.md)", example="sleep_timer")
    version = String(required=False, example="legacy", help_text="the component's version; absent means the default")
    # A declared field may shadow Serializer.data: the metaclass takes it out of the class.
    data = Object(help_text="{input key: {hook: bool, value: any}}; a value may reference ${key} constants",  # type: ignore[assignment]  # a field named like Serializer.data
                  example={"bk_timing": {"hook": True, "value": "${bk_timing}"}})


class Activity(serializers.Serializer):
    """A ServiceActivity (runs a component) or a SubProcess (runs a nested tree)."""

    id = String(example=NODE_ID_EXAMPLE, help_text="the node's id (the same as its key in activities)")
    type = Choice(["ServiceActivity", "SubProcess"], example="ServiceActivity", help_text="the activity's kind")
    name = String(required=False, example="定时", help_text="display name")
    incoming = AnyValue(schema=FLOW_IDS_SCHEMA, example="linecd597f19606c1455d661f71a582d",
                        help_text="the flow(s) into the node")
    outgoing = String(example="linecf7b7f10c87187a88b72c5f91177", help_text="the flow out of the node")
    component = Component(required=False, help_text="ServiceActivity only")
    pipeline = Object(required=False, help_text="SubProcess only: the nested tree (unfolded in tasks)",
                      example={})
    optional = Boolean(required=False, example=False, help_text="may be excluded with exclude_task_nodes_id")
    error_ignorable = Boolean(required=False, example=False, help_text="a failure does not stop the run")
    stage_name = String(required=False, example="步骤1", help_text="the web editor's stage label")


class Event(serializers.Serializer):
    id = String(example="node4e87796ddd76b0d59337b08f385d", help_text="the event's node id")
    type = Choice(["EmptyStartEvent", "EmptyEndEvent"], example="EmptyStartEvent", help_text="the event's kind")
    name = String(required=False, example="", help_text="display name")
    incoming = AnyValue(schema=FLOW_IDS_SCHEMA, example="", help_text='"" for the start event')
    outgoing = AnyValue(schema=FLOW_IDS_SCHEMA, example=FLOW_ID_EXAMPLE, help_text='"" for the end event')


class Gateway(serializers.Serializer):
    id = String(example="node5f5c5e2f7ee031f6b1b2d6f9cb4e", help_text="the gateway's node id")
    type = Choice(["ExclusiveGateway", "ParallelGateway", "ConditionalParallelGateway", "ConvergeGateway"],
                  example="ExclusiveGateway", help_text="the gateway's kind (docs/pipeline-tree.md)")
    name = String(required=False, example="", help_text="display name")
    incoming = AnyValue(schema=FLOW_IDS_SCHEMA, example=FLOW_ID_EXAMPLE, help_text="the flow(s) into the gateway")
    outgoing = AnyValue(schema=FLOW_IDS_SCHEMA, example=[FLOW_ID_EXAMPLE], help_text="the flow(s) out of it")
    conditions = Object(required=False, example={FLOW_ID_EXAMPLE: {"evaluate": '${env} == "prod"'}},
                        help_text="exclusive and conditional parallel gateways: {flow id: {evaluate, name?}}")


class Flow(serializers.Serializer):
    id = String(example=FLOW_ID_EXAMPLE, help_text="the flow's id")
    source = String(example="node4e87796ddd76b0d59337b08f385d", help_text="the node it leaves")  # type: ignore[assignment]  # shadows Field.source
    target = String(example=NODE_ID_EXAMPLE, help_text="the node it enters")
    is_default = Boolean(required=False, example=False, help_text="the default flow of a conditional gateway")


class PipelineTree(serializers.Serializer):
    """A process graph (docs/pipeline-tree.md). Task trees have fresh node ids; templates keep theirs."""

    start_event = Event()
    end_event = Event()
    activities = Object(child=Activity(), help_text="{node id: activity}", example={})
    gateways = Object(child=Gateway(), help_text="{node id: gateway}", example={})
    flows = Object(child=Flow(), help_text="{flow id: flow}", example={})
    constants = Object(child=Constant(), help_text="{${key}: constant}", example={})
    outputs = List(child=String(), example=["${greeting}"],
                   help_text="keys of the constants returned as the task's outputs")
    line = List(required=False, child=Object(), example=[], help_text="layout of the web editor (kept, unused)")
    location = List(required=False, child=Object(), example=[],
                    help_text="layout of the web editor (kept, unused)")
