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

import difflib
import os
import re
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, entry_points
from types import ModuleType
from typing import Any

import attrs
import click
import pluggy
from sqlalchemy.exc import SQLAlchemyError

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


def _canonical(distribution: str | None) -> str | None:
    """A distribution's name as pip compares them (PEP 503): ``Arrears_SMS`` is
    ``arrears-sms``."""
    return None if distribution is None else re.sub(r"[-_.]+", "-", distribution).lower()


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
    """Register the ``arrears`` entry points: built-ins first, so theirs run last.

    A plugin that cannot be loaded stops every command (ArrearsError, naming it and
    how to leave it out): its module fails to import, its hooks do not match arrears'
    (a misspelt hook, an argument no hook has), or its name is another package's.
    """
    allowed = _names("ARREARS_LOAD_PLUGINS")
    if allowed is not None:
        allowed = [_canonical(name) or "" for name in allowed]
    found = sorted(
        entry_points(group=GROUP),
        key=lambda ep: (_distribution_name(ep.dist) != OWN_DISTRIBUTION, ep.name),
    )
    for variable, wanted, installed, what in (
            ("ARREARS_DISABLE_PLUGINS", _names("ARREARS_DISABLE_PLUGINS"),
             {ep.name for ep in found}, "plugin names, the first column of `arrears plugins`"),
            ("ARREARS_LOAD_PLUGINS", allowed,
             {_canonical(_distribution_name(ep.dist)) for ep in found},
             "the names of packages pip installed")):
        for name in sorted(set(wanted or ()) - installed):
            pm.warnings.append(f'{variable}: no installed plugin is "{name}" (it takes {what})')
    for ep in found:
        dist = _distribution_name(ep.dist)
        if allowed is not None and dist != OWN_DISTRIBUTION and _canonical(dist) not in allowed:
            continue
        if pm.is_blocked(ep.name):
            continue
        if pm.has_plugin(ep.name):
            raise ArrearsError(
                f'plugin "{ep.name}" ({_package(ep.dist)}) cannot be loaded: '
                f"{_package(pm.distributions.get(ep.name))} has a plugin of that name\n"
                "Uninstall one of the two packages, or leave one out with "
                "ARREARS_LOAD_PLUGINS (the packages whose plugins load)")
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            _check_hooks(pm, plugin)
        except Exception as error:  # a broken install stops every command: say whose
            raise ArrearsError(
                f'plugin "{ep.name}" ({_package(ep.dist)}) cannot be loaded: '
                f"{_one_line(error)}\nReinstall or fix it, or leave it out with "
                f"ARREARS_DISABLE_PLUGINS={ep.name}") from None
        if ep.dist is not None:
            pm.distributions[ep.name] = ep.dist


class HookMismatch(Exception):
    """A plugin implements a hook arrears does not have."""


def _check_hooks(pm: pluggy.PluginManager, plugin: object) -> None:
    """HookMismatch if *plugin* implements a hook arrears has no spec of (pluggy's
    ``check_pending`` says so for all plugins at once, and not in a user's words)."""
    known = [name for name in dir(pm.hook) if not name.startswith("_")]
    for caller in pm.get_hookcallers(plugin) or ():
        if not caller.has_spec() and any(impl.plugin is plugin and not impl.optionalhook
                                         for impl in caller.get_hookimpls()):
            close = difflib.get_close_matches(caller.name, [n for n in known if
                                                            getattr(pm.hook, n).has_spec()], 1)
            raise HookMismatch(f"it implements {caller.name}, which is not an arrears hook"
                               + (f" (did you mean {close[0]}?)" if close else ""))


def _one_line(error: BaseException) -> str:
    """*error* as one line: its type (unless it is arrears' or pluggy's own) and message."""
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, HookMismatch | pluggy.PluginValidationError):
        return text
    return f"{type(error).__name__}: {text}"


def plugin_label(pm: pluggy.PluginManager, name: str) -> str:
    """How messages name a plugin: ``plugin "sms" (package arrears-sms 1.0)``."""
    return f'plugin "{name}" ({_package(getattr(pm, "distributions", {}).get(name))})'


def culprit(pm: pluggy.PluginManager, error: BaseException) -> str | None:
    """The name of the plugin whose code raised *error*: that of the innermost frame of
    its traceback that is a plugin's hook implementation or in a plugin's module (or a
    module below it); None if there is none."""
    modules, hooks = {}, {}
    for name, plugin in pm.list_name_plugin():
        modules[plugin.__name__ if isinstance(plugin, ModuleType) else
                type(plugin).__module__] = name
        for caller in pm.get_hookcallers(plugin) or ():
            hooks.update((impl.function.__code__, name) for impl in caller.get_hookimpls()
                         if impl.plugin is plugin)
    found = None
    trace = error.__traceback__
    while trace is not None:
        module = trace.tb_frame.f_globals.get("__name__", "")
        while module and module not in modules:
            module = module.rpartition(".")[0]
        found = hooks.get(trace.tb_frame.f_code) or modules.get(module) or found
        trace = trace.tb_next
    return found


def failure(pm: pluggy.PluginManager, error: Exception) -> str:
    """Why the customers being decided fail, when deciding them raised *error*: a plugin's
    bug fails the customers it was deciding, not the whole command. ArrearsError gives its
    message; a database error is raised again (the transaction is broken), and with
    ``ARREARS_DEBUG`` set so is everything, with its traceback, for whoever debugs the
    plugin. Call it in an ``except Exception`` clause."""
    if isinstance(error, ArrearsError):
        return str(error)
    if isinstance(error, SQLAlchemyError) or os.environ.get("ARREARS_DEBUG"):
        raise error
    name = culprit(pm, error)
    return f"a plugin failed: {f'{name}: ' if name else ''}{type(error).__name__}: {error}"


def wrong_answer(pm: pluggy.PluginManager, hook: str, answer: Any,
                 expected: str) -> ArrearsError:
    """The failure of a customer whose *hook* answered *answer*, not *expected*, naming
    the plugins that implement *hook* besides arrears' own (pluggy does not say whose
    answer it is)."""
    names = sorted({impl.plugin_name for impl in getattr(pm.hook, hook).get_hookimpls()
                    if not is_builtin(pm, impl.plugin_name)})
    shown = repr(answer)
    return ArrearsError(
        f"a plugin failed: {', '.join(names) or 'arrears'}: {hook} returned "
        f"{type(answer).__name__} {shown[:60] + '…' if len(shown) > 60 else shown}, "
        f"where {expected} is expected")


def third_party_culprit(pm: pluggy.PluginManager, error: BaseException) -> str | None:
    """:func:`culprit`, when it is not one of arrears' own plugins (whose bugs are
    arrears' to fix)."""
    name = culprit(pm, error)
    return None if name is None or is_builtin(pm, name) else name


def add_commands(pm: pluggy.PluginManager, cli: click.Group) -> None:
    """Call each plugin's ``register_commands``, one plugin at a time, built-ins first.

    A plugin may add commands and sub-commands, also to arrears' groups, but not take
    a name arrears or another plugin already gave a command: spec/CLI.md's commands
    are what scripts rely on. Such a plugin, or one whose hook raises, stops every
    command (ArrearsError), named with the way to leave it out.
    """
    owners = dict.fromkeys(_commands(cli), "arrears")
    impls = pm.hook.register_commands.get_hookimpls()
    for impl in sorted(impls, key=lambda i: (not is_builtin(pm, i.plugin_name), i.plugin_name)):
        name = impl.plugin_name
        before = _commands(cli)
        try:
            pm.subset_hook_caller("register_commands", remove_plugins=[
                other.plugin for other in impls if other is not impl])(cli=cli)
        except Exception as error:
            raise ArrearsError(f"{plugin_label(pm, name)} failed adding its commands: "
                               f"{_one_line(error)}{_leave_out(name)}") from None
        for path, command in _commands(cli).items():
            if before.get(path) is command:
                continue
            if path in owners:
                owner = owners[path]
                raise ArrearsError(
                    f'{plugin_label(pm, name)} adds the command "arrears {" ".join(path)}", '
                    f"which {'arrears' if owner == 'arrears' else plugin_label(pm, owner)} "
                    f"has already{_leave_out(name)}")
            owners[path] = name


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every command of *group* and of the groups in it, by its path of names."""
    found: dict[tuple[str, ...], Any] = {}
    for name, command in group.commands.items():
        found[prefix + (name,)] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, prefix + (name,)))
    return found


def _leave_out(name: str) -> str:
    return f"\nFix it, or leave it out with ARREARS_DISABLE_PLUGINS={name}"


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
        """Every plugin's declarations. A plugin may declare a built-in's action type to
        replace it (``execute_action`` answers first for it). Refused (BadInput, every
        such name at once), naming both: two other plugins declaring the same name, and
        a pool criterion or exclusion rule with a built-in's name (every plugin's criteria
        and rules apply together, so the built-in would still apply its own meaning).
        Refused too, an action type whose templates' section is one of the setup's own
        or another action type's. A plugin whose declaring hook raises is named
        (ArrearsError)."""
        problems: list[str] = []
        registry = cls(
            _collect(pm, pm.hook.register_action_types, "action type", problems,
                     replaceable=True),
            _collect(pm, pm.hook.register_pool_criteria, "pool criterion", problems),
            _collect(pm, pm.hook.register_exclusion_rules, "exclusion rule", problems),
        )
        sections: dict[str, str] = {}
        for action in registry.action_types.values():
            section = action.template_section
            if section is None:
                continue
            if section in SETUP_SECTIONS or section in sections:
                problems.append(
                    f'action type "{action.name}" keeps its templates in [[{section}]], '
                    "which is " + (f'the templates\' section of action type "{sections[section]}"'
                                   if section in sections else "a section of the setup's own")
                    + ": leave its plugin out with ARREARS_DISABLE_PLUGINS=NAME")
            sections.setdefault(section, action.name)
        if problems:
            raise BadInput(problems)
        return registry

    def template_sections(self) -> dict[str, ActionType]:
        """Setup sections holding templates, with the action type that owns each."""
        return {t.template_section: t for t in self.action_types.values() if t.template_section}


SETUP_SECTIONS = frozenset({"parameters", "company", "pool", "hierarchy", "letter_sequence",
                            "sales_group", "collections_agent"})
"""The setup file's own sections; an action type's templates need a section of their own."""


def _collect(pm: pluggy.PluginManager, hook: Any, kind: str, problems: list[str], *,
             replaceable: bool = False) -> dict[str, Any]:
    declared: dict[str, Any] = {}
    owners: dict[str, str] = {}
    impls = hook.get_hookimpls()
    for impl in reversed(impls):  # in the order pluggy calls them, one plugin at a time

        def register(item: ActionType | SetupOption, plugin: str = impl.plugin_name) -> None:
            owner = owners.setdefault(item.name, plugin)
            if owner == plugin:
                declared.setdefault(item.name, item)
            elif is_builtin(pm, owner) != is_builtin(pm, plugin):
                if not replaceable:
                    builtin, other = (owner, plugin) if is_builtin(pm, owner) else (plugin, owner)
                    problems.append(
                        f'{kind} "{item.name}" is arrears\' own (plugin "{builtin}"): plugin '
                        f'"{other}" cannot give it another meaning; name it otherwise, or '
                        f"leave {builtin} out with ARREARS_DISABLE_PLUGINS={builtin}")
            elif not is_builtin(pm, owner):
                problems.append(
                    f'{kind} "{item.name}" is declared by two plugins, "{owner}" and '
                    f'"{plugin}": leave one out with ARREARS_DISABLE_PLUGINS=NAME')

        others = [other.plugin for other in impls if other is not impl]
        try:
            pm.subset_hook_caller(hook.name, remove_plugins=others)(register=register)
        except Exception as error:
            raise ArrearsError(f"{plugin_label(pm, impl.plugin_name)} failed declaring its "
                               f"{kind}s: {_one_line(error)}{_leave_out(impl.plugin_name)}"
                               ) from None
    return declared


def is_builtin(pm: pluggy.PluginManager, name: str) -> bool:
    """Whether plugin *name* is one of arrears' own."""
    dist = getattr(pm, "distributions", {}).get(name)
    return _distribution_name(dist) == OWN_DISTRIBUTION


def names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"
