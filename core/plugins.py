"""The plugin manager: made in one place, loading every plugin from entry points.

The built-in plugins of ``arrears.plugins`` are entry points of the ``arrears``
distribution, so they load exactly as a third party's do.

Environment:
- ``ARREARS_DISABLE_PLUGINS``: comma list of plugin names to block, built-ins
  included (``arrears plugins`` shows the names).
- ``ARREARS_LOAD_PLUGINS``: comma list of distributions whose plugins load,
  besides arrears' own; empty means only the built-ins.
- ``ARREARS_TRACE_PLUGINS=1``: print every hook call and its result to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, entry_points
from types import ModuleType
from typing import Any

import attrs
import pluggy

from arrears.core import hookspecs
from arrears.core.domain import ActionType, SetupOption
from arrears.core.errors import ArrearsError, BadInput

GROUP = "arrears"
OWN_DISTRIBUTION = "arrears"


def _names(variable: str) -> list[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(GROUP)
        self.distributions: dict[str, Distribution] = {}
        self.warnings: list[str] = []  # what the CLI says on stderr before any command


def get_plugin_manager(*, entrypoints: bool = True) -> PluginManager:
    """A new manager with every hook spec and, with *entrypoints*, every plugin."""
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for name in _names("ARREARS_DISABLE_PLUGINS") or []:
        pm.set_blocked(name)
    if entrypoints:
        load_entrypoints(pm)
    pm.check_pending()
    if os.environ.get("ARREARS_TRACE_PLUGINS"):
        _trace(pm)
    return pm


def load_entrypoints(pm: PluginManager) -> None:
    """Register the ``arrears`` entry points: built-ins first, so theirs run last."""
    allowed = _names("ARREARS_LOAD_PLUGINS")
    found = sorted(
        entry_points(group=GROUP),
        key=lambda ep: (_distribution_name(ep.dist) != OWN_DISTRIBUTION, ep.name),
    )
    for variable, wanted, installed, what in (
            ("ARREARS_DISABLE_PLUGINS", _names("ARREARS_DISABLE_PLUGINS"),
             {ep.name for ep in found}, "plugin names, the first column of `arrears plugins`"),
            ("ARREARS_LOAD_PLUGINS", allowed, {_distribution_name(ep.dist) for ep in found},
             "the names of packages pip installed")):
        for name in sorted(set(wanted or ()) - installed):
            pm.warnings.append(f'{variable}: no installed plugin is "{name}" (it takes {what})')
    for ep in found:
        dist = _distribution_name(ep.dist)
        if allowed is not None and dist != OWN_DISTRIBUTION and dist not in allowed:
            continue
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as error:  # a broken install stops every command: say whose
            raise ArrearsError(
                f'plugin "{ep.name}" ({_package(ep.dist)}) cannot be loaded: '
                f"{type(error).__name__}: {error}\nReinstall or fix it, or leave it out with "
                f"ARREARS_DISABLE_PLUGINS={ep.name}") from None
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            pm.distributions[ep.name] = ep.dist


def _distribution_name(dist: Distribution | None) -> str | None:
    return dist.metadata["Name"] if dist is not None else None


def _package(dist: Distribution | None) -> str:
    return f"package {dist.metadata['Name']} {dist.version}" if dist is not None else \
        "no package"


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, impls: Any, kwargs: dict[str, Any]) -> None:
        print(f"arrears: hook {hook_name}({', '.join(kwargs)})", file=sys.stderr)

    def after(outcome: Any, hook_name: str, impls: Any, kwargs: dict[str, Any]) -> None:
        print(f"arrears: hook {hook_name} -> {outcome.get_result()!r}"[:300], file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)


@attrs.frozen
class PluginInfo:
    """One loaded plugin, as ``arrears plugins`` shows it."""

    name: str
    module: str
    source: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def list_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Every registered plugin: name, module, where it comes from, hooks it implements."""
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = pm.distributions.get(name)
        dist_name = _distribution_name(dist)
        source = "builtin" if dist_name == OWN_DISTRIBUTION else (
            "entry point" if dist is not None else "registered")
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        infos.append(PluginInfo(name, module, source, dist_name,
                                dist.version if dist is not None else None, tuple(hooks)))
    return sorted(infos, key=lambda i: (i.source != "builtin", i.name))


@attrs.frozen
class Registry:
    """What the plugins declared: action types, pool criteria, exclusion rules."""

    action_types: dict[str, ActionType]
    pool_criteria: dict[str, SetupOption]
    exclusion_rules: dict[str, SetupOption]

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Registry:
        """Every plugin's declarations. A plugin may declare a built-in's name to replace
        it; two other plugins declaring the same name are refused (BadInput), naming both."""
        return cls(
            _collect(pm, pm.hook.register_action_types, "action type"),
            _collect(pm, pm.hook.register_pool_criteria, "pool criterion"),
            _collect(pm, pm.hook.register_exclusion_rules, "exclusion rule"),
        )

    def template_sections(self) -> dict[str, ActionType]:
        """Setup sections holding templates, with the action type that owns each."""
        return {t.template_section: t for t in self.action_types.values() if t.template_section}


def _collect(pm: pluggy.PluginManager, hook: Any, kind: str) -> dict[str, Any]:
    declared: dict[str, Any] = {}
    owners: dict[str, str] = {}
    problems: list[str] = []
    impls = hook.get_hookimpls()
    for impl in reversed(impls):  # in the order pluggy calls them, one plugin at a time

        def register(item: ActionType | SetupOption, plugin: str = impl.plugin_name) -> None:
            owner = owners.setdefault(item.name, plugin)
            if owner == plugin:
                declared.setdefault(item.name, item)
            elif not (_builtin(pm, owner) or _builtin(pm, plugin)):
                problems.append(
                    f'{kind} "{item.name}" is declared by two plugins, "{owner}" and '
                    f'"{plugin}": leave one out with ARREARS_DISABLE_PLUGINS=NAME')

        others = [other.plugin for other in impls if other is not impl]
        pm.subset_hook_caller(hook.name, remove_plugins=others)(register=register)
    if problems:
        raise BadInput(problems)
    return declared


def _builtin(pm: pluggy.PluginManager, name: str) -> bool:
    dist = getattr(pm, "distributions", {}).get(name)
    return _distribution_name(dist) == OWN_DISTRIBUTION


def names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"
