"""Inputs of fast_create_task (endpoints/fast_tasks.py); its answer is create_task's (`CreatedTask`)."""
from __future__ import annotations

from templates_app.models import Category

from .base import Input
from .fields import Boolean, Object, String


class FastCreateTaskInput(Input):
    name = String(allow_blank=False, error="invalid params: name is required (a string)", example="one-off",
                  help_text="the task's name; the characters <>$&'\" are removed and it is cut to 100 characters")
    pipeline_tree = Object(error="invalid params: pipeline_tree is required (a JSON object)",
                           example={"start_event": {}, "end_event": {}, "activities": {}, "flows": {}},
                           help_text="the tree to run (docs/pipeline-tree.md); validated as a template's would be, "
                                     "SubProcess nodes (template_id) included. gateways, constants and outputs "
                                     "default to empty")
    has_common_subprocess = Boolean(default=False, example=False,
                                    help_text="false: every SubProcess template_id is a template of this business; "
                                              "true: every one is a common template")
    flow_type = String(default="common", example="common",
                       help_text="common_func: the task waits to be claimed; any other value means common")
    category = String(default="", example="OpsTools",
                      help_text=f"one of {', '.join(Category.values)}; another value is ignored (Default)")
    description = String(default="", example="", help_text="the task's description")
