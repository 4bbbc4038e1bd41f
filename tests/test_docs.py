"""Documentation that cannot drift from the code.

The site (docs/, Sphinx + MyST + furo) generates the hook reference from the hookspec
docstrings and the command-line reference from the click commands at every build, so
these tests check that the docstrings are complete and that the site builds with
warnings as errors.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import subprocess
import sys
import typing
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

from arrears.core import hookspecs, plugins, setupfile
from arrears.core.domain import (
    Company,
    Hierarchy,
    LetterCode,
    LetterSequence,
    Parameters,
    Party,
    Pool,
)
from arrears.core.plugins import Registry, get_plugin_manager

DOCS = Path(__file__).parent.parent / "docs"
MARKERS = ("hookimpl", "hookspec")
DOCS_PACKAGES = ("sphinx", "myst_parser", "furo", "sphinx_click")


def hooks() -> list[str]:
    return [name for name in hookspecs.__all__ if name not in MARKERS]


def test_every_hook_is_in_the_reference():
    # plugin_hooks.md documents the members of hookspecs.__all__: a hook left out of
    # __all__ would be missing from the page.
    specs = [name for name, value in vars(hookspecs).items()
             if inspect.isfunction(value) and hasattr(value, "arrears_spec")]
    assert sorted(specs) == sorted(hooks()), "add every hook to hookspecs.__all__"


@pytest.mark.parametrize("name", hooks())
def test_every_hook_is_documented_with_its_arguments(name):
    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function)
    assert doc, f"{name} has no docstring"
    assert ":returns:" in doc, f"{name} says no return"
    parameters = set(inspect.signature(function).parameters)
    for documented in re.findall(r"^:param (\w+):", doc, re.MULTILINE):
        assert documented in parameters, f"{name} documents :param {documented}: it lacks"


def _keys(cls: type) -> set[str]:
    """The keys of a setup table structured into attrs class *cls*, nested tables'
    (``body.<language>`` of an email template) included."""
    keys = {field.name for field in attrs.fields(cls)}
    for hint in typing.get_type_hints(cls).values():
        args = typing.get_args(hint)
        if typing.get_origin(hint) is Mapping and args and attrs.has(args[-1]):
            keys |= _keys(args[-1])
    return keys


def test_the_setup_file_reference_names_every_key(monkeypatch):
    monkeypatch.setenv("ARREARS_LOAD_PLUGINS", "")  # the built-in plugins only
    monkeypatch.delenv("ARREARS_DISABLE_PLUGINS", raising=False)
    registry = Registry.collect(get_plugin_manager())
    keys = set(plugins.SETUP_SECTIONS) | setupfile.STEP_KEYS | setupfile.RECIPIENT_KEYS
    for cls in (Parameters, Company, Party, LetterCode):
        keys |= _keys(cls)
    keys |= (_keys(Pool) - {"criteria"}) | (_keys(LetterSequence) - {"letters"} | {"letter"})
    keys |= _keys(Hierarchy) - {"steps"} | {"step"}
    keys |= set(registry.pool_criteria) | set(registry.exclusion_rules)
    for section, action_type in registry.template_sections().items():
        keys |= {section} | (_keys(action_type.template_class)
                             if action_type.template_class else set())
    page = (DOCS / "setup_file.md").read_text()
    missing = sorted(key for key in keys if f"`{key}`" not in page
                     and f"`[{key}]`" not in page and f"`[[{key}]]`" not in page)
    assert not missing, f"docs/setup_file.md does not describe {', '.join(missing)}"


def _documented_commands() -> list[str]:
    """Every command path of the CLI the docs document (built-ins' commands included),
    read in a fresh interpreter: tests may have added commands to this one's."""
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "import click, arrears_docs\n"
        "def walk(group, path):\n"
        "    for name, command in group.commands.items():\n"
        "        yield ' '.join([*path, name])\n"
        "        if isinstance(command, click.Group):\n"
        "            yield from walk(command, [*path, name])\n"
        "print(json.dumps(sorted(walk(arrears_docs.cli, []))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def test_the_site_builds_without_warnings(tmp_path: Path):
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs need {', '.join(missing)}: pip install -e '.[docs]'")
    html = tmp_path / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(html)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, f"sphinx failed:\n{done.stderr}{done.stdout}"

    reference = (html / "plugin_hooks.html").read_text()
    for name in hooks():
        assert f'id="arrears.core.hookspecs.{name}"' in reference, f"{name} is not on the page"

    cli = (html / "cli.html").read_text()
    commands = _documented_commands()
    assert "letters create" in commands, "the docs' CLI lacks the plugins' commands"
    for command in commands:
        anchor = "arrears-" + command.replace(" ", "-")
        assert f'id="{anchor}"' in cli, f"`arrears {command}` is not on the CLI page"
