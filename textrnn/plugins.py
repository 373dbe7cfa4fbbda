"""Plugin discovery: entry points in the ``textrnn`` group, loaded into pluggy.

First-party plugins are ordinary entry points of the ``textrnn`` distribution, so they
take exactly the path a third-party package takes. Environment switches:

* ``TEXTRNN_DISABLE_PLUGIN_AUTOLOAD=1`` loads only textrnn's own plugins.
* ``TEXTRNN_PLUGINS=mod_a,mod_b`` imports and registers these modules explicitly.
* ``TEXTRNN_STRICT_PLUGINS=1`` turns a plugin that fails to import into an error
  instead of a warning (use it in CI).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "textrnn"
FIRST_PARTY_DIST = "textrnn"


@dataclass
class PluginInfo:
    """What ``textrnn plugins`` shows about one loaded plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginState:
    manager: pluggy.PluginManager
    infos: dict[str, PluginInfo]
    failures: list[str]  # one human-readable line per plugin that failed to import


_state: PluginState | None = None


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _register(pm: pluggy.PluginManager, infos: dict, module, name: str, dist, version):
    if pm.has_plugin(name) or pm.is_registered(module):
        return
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} has an invalid hook: {exc}") from None
    hooks = sorted(impl.name for impl in pm.get_hookcallers(module) or [])
    infos[name] = PluginInfo(name, getattr(module, "__name__", type(module).__name__), dist, version, hooks)


def _load() -> PluginState:
    pm = pluggy.PluginManager("textrnn")
    pm.add_hookspecs(hookspecs)
    strict = _truthy("TEXTRNN_STRICT_PLUGINS")
    autoload = not _truthy("TEXTRNN_DISABLE_PLUGIN_AUTOLOAD")
    infos: dict[str, PluginInfo] = {}
    failures: list[str] = []

    def fail(name: str, exc: BaseException) -> None:
        line = f"plugin {name!r} failed to load: {type(exc).__name__}: {exc}"
        if strict:
            raise PluginError(line + " (TEXTRNN_STRICT_PLUGINS=1)") from None
        failures.append(line)

    # Sorted so that load order, and therefore registration order, is stable.
    eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if not autoload and dist != FIRST_PARTY_DIST:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            fail(ep.name, exc)
            continue
        _register(pm, infos, module, ep.name, dist, version)

    for modname in filter(None, (m.strip() for m in os.environ.get("TEXTRNN_PLUGINS", "").split(","))):
        try:
            module = importlib.import_module(modname)
        except Exception as exc:
            fail(modname, exc)
            continue
        _register(pm, infos, module, modname, None, getattr(module, "__version__", None))

    try:
        pm.check_pending()  # a misspelt hookimpl fails here, at start-up
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    return PluginState(pm, infos, failures)


def state() -> PluginState:
    """The loaded plugin state, loading entry points on first use."""
    global _state
    if _state is None:
        _state = _load()
    return _state


def get_plugin_manager() -> pluggy.PluginManager:
    return state().manager


def reset() -> None:
    """Forget loaded plugins so the next call rediscovers them (tests use this)."""
    global _state
    _state = None
    from . import registry

    registry.reset()


def register_plugin(module, name: str | None = None) -> None:
    """Register a module or object as a plugin at run time (tests, notebooks)."""
    st = state()
    name = name or getattr(module, "__name__", repr(module))
    _register(st.manager, st.infos, module, name, None, getattr(module, "__version__", None))
    from . import registry

    registry.reset()
