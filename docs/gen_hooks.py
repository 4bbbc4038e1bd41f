"""Write docs/plugin_hooks.md from the hookspec docstrings: `python docs/gen_hooks.py`.

tests/test_docs.py fails when the page differs from what this prints.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from arrears.core import hookspecs

HEADER = """# Plugin hooks

Generated from `core/hookspecs.py` by `python docs/gen_hooks.py`; edit the docstrings,
not this page. Hooks are called with keyword arguments; an implementation may accept
fewer arguments than listed. Import the marker with `from arrears.core import hookimpl`.
"""


def page() -> str:
    parts = [HEADER]
    for name in hookspecs.__all__:
        if name in ("hookimpl", "hookspec"):
            continue
        function = getattr(hookspecs, name)
        options = getattr(function, "arrears_spec", {})
        arguments = ", ".join(inspect.signature(function).parameters)
        parts.append(f"## {name}({arguments})\n")
        if options.get("firstresult"):
            parts.append("*First result wins.*\n")
        parts.append(inspect.getdoc(function) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    target = Path(__file__).parent / "plugin_hooks.md"
    text = page()
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if target.read_text() == text else "docs/plugin_hooks.md is out of date")
    target.write_text(text)
