"""pytest support for arrears and its plugins (entry point ``pytest11``).

Fixtures:

- ``arrears_db_url``: the URL of a fresh, migrated database: SQLite in
  ``tmp_path``, or PostgreSQL when ``ARREARS_TEST_PG_URL`` names a server.
- ``arrears_cli``: run ``arrears`` commands in-process against that database;
  returns a :class:`Result` with ``.json()`` and ``.assert_exit(code)``.
- ``arrears_plugin``: register loose ``@hookimpl`` functions as a throwaway
  plugin for the rest of the test.

And ``RecordingContext``, a Context that keeps what actions store, for unit
tests of ``execute_action`` without a database.

Module-level imports stay light: this file is loaded by every pytest run in
an environment where arrears is installed.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


class Result:
    """The outcome of one ``arrears`` command."""

    def __init__(self, args: list[str], exit_code: int, stdout: str, stderr: str,
                 exception: BaseException | None = None):
        self.args = args
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.exception = exception

    def json(self) -> Any:
        """stdout parsed as the one JSON document it must be."""
        return json.loads(self.stdout)

    def assert_exit(self, code: int) -> Result:
        """Fail, showing the command's output, unless it exited with *code*."""
        assert self.exit_code == code, (
            f"arrears {' '.join(self.args)} exited {self.exit_code}, expected {code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            + (f"\n--- exception\n{self.exception!r}" if self.exception else "")
        )
        assert "Traceback" not in self.stderr + self.stdout, "a traceback reached the user"
        return self

    def assert_success(self) -> Result:
        return self.assert_exit(0)

    def __repr__(self) -> str:
        return f"<Result arrears {' '.join(self.args)}: exit {self.exit_code}>"


class Cli:
    """Runs ``arrears`` in-process with click's CliRunner on one database."""

    def __init__(self, db_url: str, pm: Any):
        self.db_url = db_url
        self.pm = pm

    def __call__(self, *args: str | Path, input: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
        from click.testing import CliRunner

        from arrears.core.cli import Runtime, cli

        argv = [str(a) for a in args]
        self.pm.hook.register_commands(cli=cli)  # as main() does
        runner = CliRunner()
        result = runner.invoke(cli, ["--db", self.db_url, *argv], obj=Runtime(self.pm),
                               input=input, env=env, catch_exceptions=True)
        exception = result.exception if not isinstance(result.exception, SystemExit) else None
        if exception is not None:
            raise exception
        return Result(argv, result.exit_code, result.stdout, result.stderr)


def __getattr__(name: str) -> Any:
    # RecordingContext subclasses the kernel's Context: built on first use so that
    # loading this pytest plugin stays light.
    if name == "RecordingContext":
        from arrears.core.context import Context

        class RecordingContext(Context):
            """A Context whose stored rows (``rows("letter")``) can be read back
            instead of being written to a database: for unit tests of
            ``execute_action``."""

            def rows(self, table: str) -> list[dict[str, Any]]:
                if table == "letter_invoice":
                    return [line for _, _, lines in self.writes for line in lines]
                return [values for stored, values, _ in self.writes if stored.name == table]

        globals()["RecordingContext"] = RecordingContext
        return RecordingContext
    raise AttributeError(name)


@pytest.fixture
def arrears_pm() -> Any:
    """A fresh plugin manager with every installed plugin."""
    from arrears.core.plugins import get_plugin_manager

    return get_plugin_manager()


def _migrated(url: str) -> str:
    from arrears.core.db import Database

    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


@pytest.fixture
def arrears_db_url(tmp_path: Path) -> Iterator[str]:
    """A migrated database: a SQLite file in ``tmp_path``, or with
    ``ARREARS_TEST_PG_URL=postgresql://USER:PASSWORD@HOST/DB`` (a role that may
    create databases) a fresh PostgreSQL database, dropped afterwards."""
    import os

    server = os.environ.get("ARREARS_TEST_PG_URL")
    if not server:
        yield _migrated(f"sqlite:///{tmp_path / 'arrears.db'}")
        return
    import uuid

    from sqlalchemy import create_engine, text

    from arrears.core.db import parse_url

    name = f"arrears_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parse_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield _migrated(parse_url(server).set(database=name)
                        .render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def arrears_cli(arrears_db_url: str, arrears_pm: Any) -> Cli:
    """Call ``arrears_cli("run", "--format", "json")`` to run a command on the test database."""
    return Cli(arrears_db_url, arrears_pm)


@pytest.fixture
def arrears_plugin(arrears_pm: Any) -> Iterator[Callable[..., Any]]:
    """``arrears_plugin(fn, …)`` registers hookimpl functions as one plugin until teardown."""
    registered: list[Any] = []

    def register(*hookimpls: Callable[..., Any], name: str | None = None) -> Any:
        plugin = types.ModuleType(name or f"test_plugin_{len(registered)}")
        for function in hookimpls:
            setattr(plugin, function.__name__, function)
        arrears_pm.register(plugin, name=plugin.__name__)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if arrears_pm.is_registered(plugin):
            arrears_pm.unregister(plugin)
