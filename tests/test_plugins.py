"""Plugins load through the `arrears` entry-point group, built-ins included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arrears.core import hookimpl, options
from arrears.core.domain import ActionType, SetupOption
from arrears.core.plugins import get_plugin_manager, list_plugins

BUILTINS = {"activities", "emails", "exclusions", "letters", "pools"}


def arrears(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """The installed console script, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "arrears.core", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture
def installed_plugin(tmp_path: Path) -> dict[str, str]:
    """A throwaway distribution with an `arrears` entry point, on PYTHONPATH."""
    site = tmp_path / "site"
    info = site / "arrears_throwaway-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arrears-throwaway\n"
                                   "Version: 1.2.3\n")
    (info / "entry_points.txt").write_text("[arrears]\nthrowaway = arrears_throwaway\n")
    (site / "arrears_throwaway.py").write_text(textwrap.dedent('''
        from arrears.core import hookimpl
        from arrears.core.domain import ActionType

        import click

        @hookimpl
        def register_action_types(register):
            register(ActionType("fax"))

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def fax():
                """Send the faxes."""
                click.echo("no fax machine")
    '''))
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
            "ARREARS_LOAD_PLUGINS": "arrears-throwaway"}  # tests/conftest.py loads none


def plugins_json(env: dict[str, str] | None = None) -> dict[str, dict]:
    result = arrears("plugins", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)["plugins"]}


def test_builtins_are_entry_points_of_the_arrears_distribution():
    listed = plugins_json()
    assert BUILTINS <= set(listed)
    for name in BUILTINS:
        assert listed[name]["source"] == "builtin"
        assert listed[name]["distribution"] == "arrears"
        assert listed[name]["module"] == f"arrears.plugins.{name}"
    assert listed["pools"]["hooks"] == ["register_pool_criteria", "select_customers"]


def test_an_installed_plugin_is_listed_and_its_action_type_accepted(installed_plugin, tmp_path,
                                                                    data):
    listed = plugins_json(installed_plugin)
    assert listed["throwaway"] == {
        "name": "throwaway", "module": "arrears_throwaway", "source": "entry point",
        "distribution": "arrears-throwaway", "version": "1.2.3",
        "hooks": ["register_action_types", "register_commands"]}
    setup = tmp_path / "fax.toml"
    setup.write_text((data / "setup.toml").read_text().replace(
        'action = "letter"', 'action = "fax"', 1))
    (tmp_path / "reminder_en.html").write_text("<p>hi</p>")
    assert arrears("setup", "check", str(setup), env=installed_plugin).returncode == 0
    refused = arrears("setup", "check", str(setup))
    assert refused.returncode == 2
    assert 'unknown action type "fax"' in refused.stderr


def test_a_plugin_adds_a_command(installed_plugin):
    result = arrears("fax", env=installed_plugin)
    assert result.returncode == 0 and result.stdout == "no fax machine\n"
    assert arrears("fax").returncode == 2  # without the plugin: no such command


def test_a_plugin_that_cannot_load_is_named_with_the_way_to_leave_it_out(installed_plugin):
    site = Path(installed_plugin["PYTHONPATH"].split(os.pathsep)[0])
    (site / "arrears_throwaway.py").write_text("import arrears_missing_dependency\n")
    for args in (["plugins"], ["setup", "show"]):
        result = arrears(*args, env=installed_plugin)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [
            'Error: plugin "throwaway" (package arrears-throwaway 1.2.3) cannot be loaded: '
            "ModuleNotFoundError: No module named 'arrears_missing_dependency'",
            "Reinstall or fix it, or leave it out with ARREARS_DISABLE_PLUGINS=throwaway"]
    assert "throwaway" not in plugins_json({**installed_plugin,
                                            "ARREARS_DISABLE_PLUGINS": "throwaway"})


def test_two_plugins_declaring_one_action_type_are_refused_by_name(arrears_cli, arrears_plugin,
                                                                   data):
    @hookimpl
    def register_action_types(register):
        register(ActionType("fax"))

    arrears_plugin(register_action_types, name="fax_one")
    arrears_plugin(register_action_types, name="fax_two")
    result = arrears_cli("setup", "check", str(data / "setup.toml")).assert_exit(2)
    assert 'action type "fax" is declared by two plugins, "fax_two" and "fax_one": ' \
        "leave one out with ARREARS_DISABLE_PLUGINS=NAME" in result.stderr


def test_a_plugin_may_replace_a_built_in_action_type(arrears_cli, arrears_plugin, data):
    from arrears.core.domain import Outcome

    @hookimpl
    def register_action_types(register):
        register(ActionType("letter"))

    @hookimpl
    def execute_action(action):
        if action.action == "letter":
            return Outcome(True, "sent to the print house", document="PRINT")

    arrears_plugin(register_action_types, execute_action, name="my_letters")
    arrears_cli("setup", "load", str(data / "setup.toml")).assert_success()
    for kind in ("customers", "invoices"):
        arrears_cli("import", kind, data / f"{kind}.csv").assert_success()
    actions = arrears_cli("run", "--as-of", "2025-01-16", "--format", "json").json()["actions"]
    letters = [(a["customer"], a["document"]) for a in actions if a["action"] == "letter"]
    assert letters and all(document == "PRINT" for _, document in letters)
    assert arrears_cli("letters", "--format", "json").json()["letters"] == []  # none posted


@pytest.mark.parametrize(("hook", "kind", "name", "builtin"), [
    ("register_pool_criteria", "pool criterion", "country", "pools"),
    ("register_exclusion_rules", "exclusion rule", "customer_balance_below", "exclusions"),
])
def test_a_built_in_pool_criterion_or_exclusion_rule_keeps_its_meaning(
        arrears_cli, arrears_plugin, data, hook, kind, name, builtin):
    """Every plugin's criteria and rules apply together: the built-in would go on testing
    "SE" in "nordics", so a plugin may not give the name another meaning."""
    def declare(register):
        register(SetupOption(name, options.text, str))

    declare.__name__ = hook
    arrears_plugin(hookimpl(declare), name="nordics")
    result = arrears_cli("setup", "check", str(data / "setup.toml")).assert_exit(2)
    assert f'{kind} "{name}" is arrears\' own (plugin "{builtin}"): plugin "nordics" ' \
        f"cannot give it another meaning; name it otherwise, or leave {builtin} out with " \
        f"ARREARS_DISABLE_PLUGINS={builtin}" in result.stderr


def test_load_plugins_limits_third_parties_and_disable_blocks_any(installed_plugin):
    only_builtins = plugins_json({**installed_plugin, "ARREARS_LOAD_PLUGINS": ""})
    assert "throwaway" not in only_builtins and BUILTINS <= set(only_builtins)
    named = plugins_json({**installed_plugin, "ARREARS_LOAD_PLUGINS": "arrears-throwaway"})
    assert "throwaway" in named
    blocked = plugins_json({**installed_plugin,
                            "ARREARS_DISABLE_PLUGINS": "throwaway, letters"})
    assert "throwaway" not in blocked and "letters" not in blocked and "pools" in blocked


def test_a_name_no_plugin_has_is_warned_of(installed_plugin):
    # The two variables take different names: a plugin's, and its package's.
    result = arrears("plugins", "--format", "json", env={
        **installed_plugin, "ARREARS_DISABLE_PLUGINS": "arrears-throwaway,letters",
        "ARREARS_LOAD_PLUGINS": "throwaway,arrears-throwaway"})
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        'warning: ARREARS_DISABLE_PLUGINS: no installed plugin is "arrears-throwaway" (it '
        "takes plugin names, the first column of `arrears plugins`)",
        'warning: ARREARS_LOAD_PLUGINS: no installed plugin is "throwaway" (it takes the '
        "names of packages pip installed)"]
    listed = {p["name"] for p in json.loads(result.stdout)["plugins"]}
    assert "throwaway" in listed and "letters" not in listed


def test_trace_prints_hook_calls_to_stderr(tmp_path, data):
    result = arrears("setup", "check", str(data / "setup.toml"),
                     env={"ARREARS_TRACE_PLUGINS": "1"})
    assert result.returncode == 0, result.stderr
    assert "hook register_action_types(register)" in result.stderr


def test_a_registered_plugin_adds_a_pool_criterion(arrears_cli, arrears_plugin, data, tmp_path):
    @hookimpl
    def register_pool_criteria(register):
        register(SetupOption("vip", lambda value: bool(value)))

    setup = tmp_path / "vip.toml"
    setup.write_text((data / "setup.toml").read_text().replace(
        'customer_group = ["KEY"]', "vip = true"))
    (tmp_path / "reminder_en.html").write_text("<p>hi</p>")
    arrears_cli("setup", "check", setup).assert_exit(2)
    arrears_plugin(register_pool_criteria, name="vip_plugin")
    arrears_cli("setup", "check", setup).assert_success()
    listed = {p["name"]: p for p in
              arrears_cli("plugins", "--format", "json").assert_success().json()["plugins"]}
    assert listed["vip_plugin"]["source"] == "registered"


def test_a_misspelt_hook_is_refused():
    pm = get_plugin_manager(entrypoints=False)

    class Typo:
        @hookimpl
        def choose_stepp(self):
            pass

    pm.register(Typo())
    with pytest.raises(Exception, match="choose_stepp"):
        pm.check_pending()


def test_listing_without_entry_points_is_empty():
    assert list_plugins(get_plugin_manager(entrypoints=False)) == []


def test_a_third_party_declaration_overrides_a_builtin_of_the_same_name(arrears_pm, arrears_plugin):
    from arrears.core.plugins import Registry

    @hookimpl
    def register_action_types(register):
        register(ActionType("letter", template_section="fancy_letter"))

    arrears_plugin(register_action_types)
    declared = Registry.collect(arrears_pm).action_types["letter"]
    assert declared.template_section == "fancy_letter"  # third parties answer first


# --- a plugin author's mistakes: named, with the way to leave the plugin out -------------


def throwaway(installed_plugin: dict[str, str], source: str,
              entry_points: str | None = None) -> Path:
    """Replace the throwaway plugin's module (and its entry points)."""
    site = Path(installed_plugin["PYTHONPATH"].split(os.pathsep)[0])
    (site / "arrears_throwaway.py").write_text(textwrap.dedent(source))
    if entry_points is not None:
        (site / "arrears_throwaway-1.2.3.dist-info" / "entry_points.txt").write_text(entry_points)
    return site


PLUGIN = 'plugin "throwaway" (package arrears-throwaway 1.2.3)'
LEAVE_OUT = "leave it out with ARREARS_DISABLE_PLUGINS=throwaway"


@pytest.mark.parametrize("source, taken, owner", [
    ("""
     @hookimpl
     def register_commands(cli):
         @cli.command("run")
         def hijacked():
             click.echo("hijacked")
     """, "arrears run", "arrears"),
    ("""
     @hookimpl
     def register_commands(cli):
         @cli.commands["letters"].command("create")
         def hijacked():
             click.echo("hijacked")
     """, "arrears letters create", 'plugin "letters" (package arrears '),
])
def test_a_plugin_may_not_take_a_command_that_is_already_there(installed_plugin, source, taken,
                                                               owner):
    throwaway(installed_plugin, "import click\nfrom arrears.core import hookimpl\n"
              + textwrap.dedent(source))
    for args in (["run", "--help"], ["plugins"]):
        result = arrears(*args, env=installed_plugin)
        assert result.returncode == 1 and "hijacked" not in result.stdout
        assert result.stderr.startswith(f'Error: {PLUGIN} adds the command "{taken}", which '
                                        f"{owner}")
        assert LEAVE_OUT in result.stderr and "Traceback" not in result.stderr
    assert arrears("run", "--help", env={**installed_plugin,
                                         "ARREARS_DISABLE_PLUGINS": "throwaway"}).returncode == 0


def test_a_plugin_named_like_another_packages_plugin_cannot_be_loaded(installed_plugin):
    throwaway(installed_plugin, "", entry_points="[arrears]\nletters = arrears_throwaway\n")
    result = arrears("plugins", env=installed_plugin)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith('Error: plugin "letters" (package arrears-throwaway '
                                    "1.2.3) cannot be loaded: package arrears ")
    assert "has a plugin of that name" in result.stderr
    assert arrears("plugins", env={**installed_plugin, "ARREARS_LOAD_PLUGINS": ""}
                   ).returncode == 0


@pytest.mark.parametrize("hook, said", [
    ("def exclude_customers(customer):\n    return None",
     "it implements exclude_customers, which is not an arrears hook (did you mean "
     "exclude_customer?)"),
    ("def exclude_customer(cust):\n    return None",
     "Argument(s) {'cust'} are declared in the hookimpl but can not be found in the hookspec"),
])
def test_a_plugin_whose_hooks_do_not_match_arrears_cannot_be_loaded(installed_plugin, hook,
                                                                    said):
    throwaway(installed_plugin, f"from arrears.core import hookimpl\n\n@hookimpl\n{hook}\n")
    result = arrears("--help", env=installed_plugin)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {PLUGIN} cannot be loaded: ")
    assert said in result.stderr and LEAVE_OUT in result.stderr


def test_a_plugin_whose_own_code_raises_is_named_not_reported_as_arrears_bug(installed_plugin,
                                                                           data):
    throwaway(installed_plugin, """
        import click
        from arrears.core import hookimpl

        @hookimpl
        def register_action_types(register):
            raise RuntimeError("declared nothing")

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def fax():
                raise ValueError("the fax is jammed")
    """)
    result = arrears("fax", env=installed_plugin)
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert result.stderr.startswith(f"arrears: {PLUGIN} failed: ValueError: the fax is jammed")
    assert "report it to the plugin's authors" in result.stderr and LEAVE_OUT in result.stderr
    declared = arrears("setup", "check", str(data / "setup.toml"), env=installed_plugin)
    assert declared.returncode == 1 and "Traceback" not in declared.stderr
    assert declared.stderr.startswith(f"Error: {PLUGIN} failed declaring its action types: "
                                      "RuntimeError: declared nothing")


def test_load_plugins_takes_a_package_name_as_pip_writes_it(installed_plugin):
    for spelled in ("arrears_throwaway", "Arrears.Throwaway"):
        result = arrears("plugins", "--format", "json",
                         env={**installed_plugin, "ARREARS_LOAD_PLUGINS": spelled})
        assert result.returncode == 0 and result.stderr == ""
        assert "throwaway" in {p["name"] for p in json.loads(result.stdout)["plugins"]}


def test_every_clash_of_declarations_is_listed_at_once(arrears_cli, arrears_plugin, data):
    @hookimpl
    def register_action_types(register):
        register(ActionType("fax"))
        register(ActionType("telex", template_section="pool"))

    @hookimpl
    def register_exclusion_rules(register):
        register(SetupOption("vip", bool))

    arrears_plugin(register_action_types, register_exclusion_rules, name="one")
    arrears_plugin(register_action_types, register_exclusion_rules, name="two")
    stderr = arrears_cli("setup", "check", str(data / "setup.toml")).assert_exit(2).stderr
    assert 'action type "fax" is declared by two plugins' in stderr
    assert 'exclusion rule "vip" is declared by two plugins' in stderr
    assert ('action type "telex" keeps its templates in [[pool]], which is a section of the '
            "setup's own") in stderr


def test_two_action_types_may_not_share_a_templates_section(arrears_cli, arrears_plugin, data):
    @hookimpl
    def register_action_types(register):
        register(ActionType("fax", template_section="email_template"))

    arrears_plugin(register_action_types, name="fax")
    stderr = arrears_cli("setup", "check", str(data / "setup.toml")).assert_exit(2).stderr
    assert ('keeps its templates in [[email_template]], which is the templates\' section of '
            'action type "') in stderr
