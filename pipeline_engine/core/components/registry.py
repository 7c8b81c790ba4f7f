"""The component registry, keyed by (code, version).

Built-ins register themselves when `pipeline_engine.core.components` is
imported. Users add their own in two ways, both loaded once, lazily, on the
first lookup:

- modules named in the setting SOPS_COMPONENT_MODULES (or passed to
  `load_plugins`), which call `register` when imported;
- installed distributions declaring entry points in the group
  "sops.components"; an entry point may name a module, a Component subclass,
  or a callable returning Component subclasses.
"""
from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable
from importlib import metadata
from typing import Any, TypeVar

from pipeline_engine.core.components import config
from pipeline_engine.core.components.base import Component

__all__ = [
    "ComponentNotFound",
    "DEFAULT_VERSION",
    "ENTRY_POINT_GROUP",
    "all_components",
    "generation",
    "get_component",
    "load_entry_points",
    "load_plugins",
    "register",
    "unregister",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sops.components"
DEFAULT_VERSION = "legacy"

C = TypeVar("C", bound=type[Component])

_lock = threading.RLock()
_registry: dict[tuple[str, str], type[Component]] = {}
# Version a bare code resolves to when it is not "legacy" (set by `register(default=True)`).
_defaults: dict[str, str] = {}
_plugins_loaded = False
_plugins_loading = False
# Bumped by every removal from the registry: a tree validated against the components it names
# (each must be registered) may name one that is gone. Adding or replacing a component makes no
# valid tree invalid, so it leaves this as it is.
_generation = 0


def generation() -> int:
    """A number that changes whenever a component is unregistered."""
    return _generation


class ComponentNotFound(KeyError):
    """No component is registered under that code (and version)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


def _version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    # "v1.10" sorts after "v1.9"; non-numeric parts compare as text.
    parts = version.lstrip("vV").replace("-", ".").split(".")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def register(cls: C | None = None, *, default: bool = False) -> Any:
    """Register a Component subclass; usable as `@register` or `@register(default=True)`.

    Registering another class under an existing (code, version) replaces it
    (a plugin may override a built-in); the replacement is logged.
    """
    def apply(component: C) -> C:
        if not (isinstance(component, type) and issubclass(component, Component)):
            raise TypeError(f"{component!r} is not a Component subclass")
        code = getattr(component, "code", "")
        if not isinstance(code, str) or not code:
            raise TypeError(f"component {component.__qualname__} has no code")
        version = component.version or DEFAULT_VERSION
        with _lock:
            previous = _registry.get((code, version))
            if previous is not None and previous is not component:
                logger.warning("component %s %s: %s replaces %s", code, version,
                               component.__qualname__, previous.__qualname__)
            _registry[(code, version)] = component
            if default:
                _defaults[code] = version
        return component

    if cls is None:
        return apply
    return apply(cls)


def unregister(code: str, version: str | None = None) -> None:
    """Remove one version (or every version) of a code. Meant for tests."""
    with _lock:
        for key in [k for k in _registry if k[0] == code and (version is None or k[1] == version)]:
            del _registry[key]
        if version is None or _defaults.get(code) == version:
            _defaults.pop(code, None)
        global _generation
        _generation += 1


def _default_version(code: str) -> str | None:
    # Two dict lookups answer nearly every call (the walker asks once per node); only a
    # code with neither a chosen default nor a legacy version scans the registry.
    chosen = _defaults.get(code)
    if chosen is not None and (code, chosen) in _registry:
        return chosen
    if (code, DEFAULT_VERSION) in _registry:
        return DEFAULT_VERSION
    versions = [v for (c, v) in _registry if c == code]
    if not versions:
        return None
    return max(versions, key=_version_key)


def get_component(code: str, version: str | None = None) -> type[Component]:
    """The class registered for (code, version).

    `version` None, "" or "legacy" means the code's default version: the one
    registered with default=True, else "legacy", else the highest version.
    """
    _ensure_plugins()
    with _lock:
        if version and version != DEFAULT_VERSION:
            found = _registry.get((code, version))
            if found is not None:
                return found
            known = sorted(v for (c, v) in _registry if c == code)
            if known:
                raise ComponentNotFound(
                    f"Component {code!r} has no version {version!r} (known versions: {', '.join(known)}).")
            raise ComponentNotFound(f"Component {code!r} (version {version!r}) is not registered.")
        chosen = _default_version(code)
        if chosen is None:
            raise ComponentNotFound(f"Component {code!r} is not registered.")
        return _registry[(code, chosen)]


def all_components() -> list[type[Component]]:
    """Every registered component, sorted by code then version."""
    _ensure_plugins()
    with _lock:
        return [_registry[k] for k in sorted(_registry, key=lambda k: (k[0], _version_key(k[1])))]


def load_plugins(modules: Iterable[str]) -> list[str]:
    """Import user modules so their `register` calls run; returns the names imported.

    A module that cannot be imported raises ImportError naming it: a
    misconfigured plugin should stop the process at start, not fail nodes later.
    """
    loaded = []
    for name in modules:
        name = name.strip()
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(f"Component plugin module {name!r} cannot be imported: {exc}") from exc
        loaded.append(name)
    return loaded


def _register_loaded(obj: Any, source: str) -> None:
    if isinstance(obj, type) and issubclass(obj, Component):
        register(obj)
    elif callable(obj) and not isinstance(obj, type):
        for item in obj() or ():
            register(item)
    # A module object: importing it ran its register() calls already.
    elif not hasattr(obj, "__file__") and not hasattr(obj, "__path__"):
        raise TypeError(f"entry point {source} gave {obj!r}, not a module, component or callable")


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every installed entry point of `group`; returns their names.

    A broken entry point is logged and skipped, so one bad distribution does
    not take every run down.
    """
    names = []
    for entry in metadata.entry_points(group=group):
        try:
            _register_loaded(entry.load(), f"{entry.name} = {entry.value}")
        except Exception:
            logger.exception("cannot load component entry point %s = %s", entry.name, entry.value)
            continue
        names.append(entry.name)
    return names


def _ensure_plugins() -> None:
    """Load entry points and SOPS_COMPONENT_MODULES once, on first lookup."""
    global _plugins_loaded, _plugins_loading
    if _plugins_loaded:
        return
    with _lock:
        # The loading flag stops a plugin that looks a component up while it
        # is being imported from recursing; a failed load is retried (and so
        # reported) on the next lookup rather than silently forgotten.
        if _plugins_loaded or _plugins_loading:
            return
        _plugins_loading = True
        try:
            load_entry_points()
            modules = config.setting("SOPS_COMPONENT_MODULES", []) or []
            if isinstance(modules, str):
                modules = modules.split(",")
            load_plugins(modules)
            _plugins_loaded = True
        finally:
            _plugins_loading = False
