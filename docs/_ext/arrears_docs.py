"""The documentation's own Sphinx extension.

- ``cli``: the ``arrears`` command line as users get it, that is with the
  commands the built-in plugins add through ``register_commands`` (such as
  ``letters create``); ``cli.md`` documents it with sphinx-click, so the page
  is made from the click objects at every build and cannot drift.
- Hook options: the hook reference (``plugin_hooks.md``) is autodoc over
  ``arrears.core.hookspecs``; this adds to each hook's docstring the options of
  its ``@hookspec(...)`` marker (``firstresult=True``), read from the marker itself.
"""

from __future__ import annotations

import os
from typing import Any

import click

from arrears.core import cli as cli_module
from arrears.core.plugins import get_plugin_manager

HOOK_OPTIONS = ("firstresult", "historic")


def documented_cli() -> click.Group:
    """The ``arrears`` group after the built-in plugins (only they) added their commands."""
    saved = {name: os.environ.pop(name, None)
             for name in ("ARREARS_LOAD_PLUGINS", "ARREARS_DISABLE_PLUGINS",
                          "ARREARS_TRACE_PLUGINS")}
    os.environ["ARREARS_LOAD_PLUGINS"] = ""  # no third-party plugin of this machine
    try:
        pm = get_plugin_manager()
    finally:
        os.environ.pop("ARREARS_LOAD_PLUGINS")
        os.environ.update({name: value for name, value in saved.items() if value is not None})
    pm.hook.register_commands(cli=cli_module.cli)
    return cli_module.cli


cli = documented_cli()


def _hook_notes(app: Any, what: str, name: str, obj: Any, options: Any,
                lines: list[str]) -> None:
    if what != "function" or not name.startswith("arrears.core.hookspecs."):
        return
    spec = getattr(obj, "arrears_spec", None) or {}
    notes = [f"``{option}=True``" for option in HOOK_OPTIONS if spec.get(option)]
    if spec.get("warn_on_impl") is not None:
        notes.append(f"deprecated: {spec['warn_on_impl']}")
    if notes:  # after the summary paragraph
        end = lines.index("") if "" in lines else len(lines)
        lines[end:end] = ["", f"*Hook options:* {', '.join(notes)}."]


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _hook_notes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
