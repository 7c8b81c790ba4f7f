"""Stand-ins for the component registry and condition evaluator.

Installed only when the real modules are missing (they are written by another
engineer in parallel), and only inside the test process.
"""
from __future__ import annotations

import sys
import types
from typing import Any

from pipeline_engine.core.components.base import Component, Outcome


class Noop(Component):
    code = "noop"
    inline = True

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        return Outcome.success()


class VarAssign(Component):
    code = "var_assign"
    inline = True

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        ctx.outputs.update({k: v for k, v in ctx.inputs.items() if not k.startswith("_")})
        return Outcome.success()


class BenchPoll(Component):
    code = "bench_poll"

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        return Outcome.poll(0)

    def schedule(self, ctx, callback_data=None):  # type: ignore[no-untyped-def]
        return Outcome.success()


class PauseNode(Component):
    code = "pause_node"

    def execute(self, ctx):  # type: ignore[no-untyped-def]
        return Outcome.wait_callback()

    def schedule(self, ctx, callback_data=None):  # type: ignore[no-untyped-def]
        ctx.outputs["callback_data"] = callback_data
        return Outcome.success()


def install() -> None:
    try:
        from pipeline_engine.core.components import get_component  # noqa: F401
    except ImportError:
        registry: dict[str, type[Component]] = {c.code: c for c in (Noop, VarAssign, BenchPoll, PauseNode)}

        class ComponentNotFound(KeyError):
            pass

        def get_component(code: str, version: str | None = None) -> type[Component]:
            try:
                return registry[code]
            except KeyError:
                raise ComponentNotFound(code) from None

        mod = types.ModuleType("pipeline_engine.core.components")
        mod.__path__ = []  # type: ignore[attr-defined]
        mod.get_component = get_component  # type: ignore[attr-defined]
        mod.all_components = lambda: list(registry.values())  # type: ignore[attr-defined]
        mod.ComponentNotFound = ComponentNotFound  # type: ignore[attr-defined]
        mod.register = lambda cls: registry.__setitem__(cls.code, cls) or cls  # type: ignore[attr-defined]
        import pipeline_engine.core.components.base as base

        mod.base = base  # type: ignore[attr-defined]
        sys.modules["pipeline_engine.core.components"] = mod
        import pipeline_engine.core as core_pkg

        core_pkg.components = mod  # type: ignore[attr-defined]
        sys.modules["pipeline_engine.core.components.base"] = base
    try:
        from pipeline_engine.core.conditions import evaluate_condition  # noqa: F401
    except ImportError:
        from pipeline_engine.core.expressions import evaluate, render_text

        def evaluate_condition(expr: str, context: dict[str, Any]) -> bool:
            return bool(evaluate(render_text(expr, context), {}))

        cond = types.ModuleType("pipeline_engine.core.conditions")
        cond.evaluate_condition = evaluate_condition  # type: ignore[attr-defined]
        sys.modules["pipeline_engine.core.conditions"] = cond
        import pipeline_engine.core as core_pkg

        core_pkg.conditions = cond  # type: ignore[attr-defined]
