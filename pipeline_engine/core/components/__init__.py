"""Components (plugins) the engine runs in ServiceActivity nodes.

Importing this package registers the built-ins. Public names: the protocol
from `base`, the registry functions, and how the engine calls a component
(`call`, `safe_call` from `calls`).
"""
# Importing `builtins` registers the built-in components.
from pipeline_engine.core.components import builtins  # noqa: F401
from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from pipeline_engine.core.components.calls import MAX_IMMEDIATE_POLLS, call, safe_call
from pipeline_engine.core.components.registry import (
    ComponentNotFound,
    all_components,
    get_component,
    load_entry_points,
    load_plugins,
    register,
    unregister,
)

__all__ = [
    "MAX_IMMEDIATE_POLLS",
    "Component",
    "ComponentNotFound",
    "ExecutionContext",
    "FieldSpec",
    "Outcome",
    "all_components",
    "call",
    "get_component",
    "load_entry_points",
    "load_plugins",
    "register",
    "safe_call",
    "unregister",
]
