"""Component registry: lookup, versions, unknown codes, plugins, entry points."""
from __future__ import annotations

import sys
import textwrap
from importlib import metadata

import pytest

from pipeline_engine.core.components import (
    Component,
    ComponentNotFound,
    ExecutionContext,
    Outcome,
    all_components,
    get_component,
    load_plugins,
    register,
    registry,
    unregister,
)
from pipeline_engine.core.components.base import FieldSpec

BUILTINS = {"noop", "var_assign", "sleep_timer", "pause_node", "bk_http_request",
            "job_fast_execute_script"}


@pytest.fixture
def cleanup():
    codes: list[str] = []
    yield codes
    for code in codes:
        unregister(code)


def test_builtins_are_registered():
    codes = {c.code for c in all_components()}
    assert BUILTINS <= codes
    # Pure, fast and bounded: run inside the step (pause_node's execute and its callback's schedule).
    inline = {"noop", "var_assign", "pause_node"}
    for code in inline:
        assert get_component(code).inline is True, code
    for code in BUILTINS - inline:
        assert get_component(code).inline is False, code


def test_builtins_describe_themselves():
    described = get_component("job_fast_execute_script").describe()
    assert described["code"] == "job_fast_execute_script"
    assert described["version"] == "legacy"
    keys = [o["key"] for o in described["outputs"]]
    assert keys[:2] == ["job_inst_id", "job_inst_url"]
    assert "log_outputs" in keys
    for component in all_components():
        assert component.describe()["name"]


@pytest.mark.parametrize("version", [None, "", "legacy"])
def test_default_version_aliases(version):
    assert get_component("noop", version).code == "noop"


def test_unknown_code_raises_a_keyerror_with_a_clear_message():
    with pytest.raises(ComponentNotFound) as err:
        get_component("does_not_exist")
    assert isinstance(err.value, KeyError)
    assert str(err.value) == "Component 'does_not_exist' is not registered."


def test_unknown_version_lists_known_versions():
    with pytest.raises(ComponentNotFound, match=r"has no version 'v9' \(known versions: legacy\)"):
        get_component("noop", "v9")


def test_versions(cleanup):
    cleanup.append("versioned")

    @register
    class V1(Component):
        code, version = "versioned", "v1.0"

    @register
    class V2(Component):
        code, version = "versioned", "v1.10"

    @register
    class V19(Component):
        code, version = "versioned", "v1.9"

    assert get_component("versioned", "v1.0") is V1
    assert get_component("versioned", "v1.9") is V19
    # No legacy: the highest version is the default ("v1.10" > "v1.9").
    assert get_component("versioned") is V2

    @register
    class Legacy(Component):
        code = "versioned"

    assert get_component("versioned") is Legacy
    assert get_component("versioned", "legacy") is Legacy

    @register(default=True)
    class Chosen(Component):
        code, version = "versioned", "v2"

    assert get_component("versioned") is Chosen
    listed = [c for c in all_components() if c.code == "versioned"]
    assert [c.version for c in listed] == ["v1.0", "v1.9", "v1.10", "v2", "legacy"]


def test_re_registering_replaces(cleanup):
    cleanup.append("replaced")

    @register
    class First(Component):
        code = "replaced"

    @register
    class Second(Component):
        code = "replaced"

    assert get_component("replaced") is Second


def test_register_rejects_non_components():
    with pytest.raises(TypeError):
        register(object)  # type: ignore[arg-type]

    class NoCode(Component):
        pass

    with pytest.raises(TypeError, match="has no code"):
        register(NoCode)


def test_unregister_one_version(cleanup):
    cleanup.append("two")

    @register
    class A(Component):
        code, version = "two", "v1"

    @register
    class B(Component):
        code, version = "two", "v2"

    unregister("two", "v2")
    assert get_component("two") is A


def test_only_a_removal_changes_the_generation(cleanup):
    """What was validated against the registry holds until a component is removed from it."""
    cleanup.append("gen")
    before = registry.generation()

    @register
    class A(Component):
        code, version = "gen", "v1"

    @register(default=True)
    class B(Component):
        code, version = "gen", "v2"

    assert registry.generation() == before  # adding makes no valid tree invalid
    unregister("gen", "v1")
    after_one = registry.generation()
    assert after_one != before
    unregister("gen")
    assert registry.generation() not in (before, after_one)


def test_load_plugins_imports_user_modules(tmp_path, monkeypatch, cleanup):
    cleanup.append("user_plugin")
    (tmp_path / "sops_user_plugin_mod.py").write_text(textwrap.dedent("""
        from pipeline_engine.core.components import Component, Outcome, register

        @register
        class UserPlugin(Component):
            code = "user_plugin"
            version = "v1"
            inline = True

            def execute(self, ctx):
                ctx.outputs["hello"] = ctx.inputs.get("who", "world")
                return Outcome.success()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugins(["sops_user_plugin_mod", " "]) == ["sops_user_plugin_mod"]
    cls = get_component("user_plugin", "v1")
    ctx = ExecutionContext(run_id="r", node_id="n", inputs={"who": "sops"})
    assert cls().execute(ctx) == Outcome.success()
    assert ctx.outputs == {"hello": "sops"}
    sys.modules.pop("sops_user_plugin_mod", None)


def test_load_plugins_reports_a_missing_module():
    with pytest.raises(ImportError, match="'no_such_sops_plugin' cannot be imported"):
        load_plugins(["no_such_sops_plugin"])


class EntryPointComponent(Component):
    code = "from_entry_point"
    inputs_format = [FieldSpec("x", "X")]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        return Outcome.success()


class EntryPointFactoryComponent(Component):
    code = "from_entry_point_factory"


def make_components():
    return [EntryPointFactoryComponent]


def test_entry_points_are_loaded(monkeypatch, cleanup):
    cleanup.extend(["from_entry_point", "from_entry_point_factory"])
    here = __name__
    entries = [
        metadata.EntryPoint("cls", f"{here}:EntryPointComponent", registry.ENTRY_POINT_GROUP),
        metadata.EntryPoint("factory", f"{here}:make_components", registry.ENTRY_POINT_GROUP),
        metadata.EntryPoint("module", here, registry.ENTRY_POINT_GROUP),
        metadata.EntryPoint("broken", "no_such_module_xyz:Thing", registry.ENTRY_POINT_GROUP),
    ]
    seen_groups = []

    def fake_entry_points(group):
        seen_groups.append(group)
        return entries

    monkeypatch.setattr(registry.metadata, "entry_points", fake_entry_points)
    names = registry.load_entry_points()
    assert seen_groups == ["sops.components"]
    assert names == ["cls", "factory", "module"]  # the broken one is logged and skipped
    assert get_component("from_entry_point") is EntryPointComponent
    assert get_component("from_entry_point_factory") is EntryPointFactoryComponent


def test_plugins_load_lazily_on_first_lookup(monkeypatch, tmp_path, cleanup):
    cleanup.append("lazy_plugin")
    (tmp_path / "sops_lazy_plugin_mod.py").write_text(textwrap.dedent("""
        from pipeline_engine.core.components import Component, register

        @register
        class Lazy(Component):
            code = "lazy_plugin"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [])
    from pipeline_engine.core.components import config

    with config.override(SOPS_COMPONENT_MODULES=["sops_lazy_plugin_mod"]):
        assert get_component("lazy_plugin").code == "lazy_plugin"
    assert registry._plugins_loaded is True
    sys.modules.pop("sops_lazy_plugin_mod", None)


def test_a_failing_configured_plugin_is_reported_again(monkeypatch):
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [])
    from pipeline_engine.core.components import config

    with config.override(SOPS_COMPONENT_MODULES="no_such_sops_plugin_2"):
        for _ in range(2):
            with pytest.raises(ImportError, match="no_such_sops_plugin_2"):
                get_component("noop")
    monkeypatch.setattr(registry, "_plugins_loaded", True)
