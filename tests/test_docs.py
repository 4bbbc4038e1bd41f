"""Documentation that cannot drift from the code."""

from __future__ import annotations

import runpy
from pathlib import Path

from arrears.core import hookspecs

DOCS = Path(__file__).parent.parent / "docs"


def test_the_hook_reference_is_generated_from_the_docstrings():
    generator = runpy.run_path(str(DOCS / "gen_hooks.py"))
    assert (DOCS / "plugin_hooks.md").read_text() == generator["page"](), (
        "docs/plugin_hooks.md is out of date: run `python docs/gen_hooks.py`")


def test_every_hook_is_documented_with_its_arguments():
    text = (DOCS / "plugin_hooks.md").read_text()
    for name in hookspecs.__all__:
        if name not in ("hookimpl", "hookspec"):
            assert f"## {name}(" in text
            assert ":returns:" in getattr(hookspecs, name).__doc__, f"{name} says no return"
