"""pytest support for arrears and its plugins (entry point ``pytest11``).

Fixtures:

- ``arrears_db_url``: the URL of a fresh, migrated database, once on each
  backend: SQLite in ``tmp_path`` (test id ``[sqlite]``) and PostgreSQL on the
  server of ``$ARREARS_TEST_PG_URL`` (``[postgresql]``, skipped without one);
  ``backends("sqlite")`` limits a test to some backends, and
  ``arrears_new_db_url()`` makes one more database on the same backend.
- ``arrears_cli``: run ``arrears`` commands in-process against that database;
  returns a :class:`Result` with ``.json()`` and ``.assert_exit(code)``.
- ``arrears_plugin``: register loose ``@hookimpl`` functions, or a plugin
  module, as a plugin for the rest of the test.
- ``installed_plugin(arrears_cli, "arrears-sms")``: how ``arrears plugins``
  lists an installed distribution's plugin (skips when it is not installed).
- ``arrears_book``: a :class:`Book` on that database: load a setup (TOML text
  or a dict) and rows, run one day or a range of days, read back the actions,
  the history and the outbox, all through the CLI.

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
        import click
        from click.testing import CliRunner

        from arrears.core.cli import Runtime, cli
        from arrears.core.errors import ArrearsError
        from arrears.core.plugins import add_commands

        argv = [str(a) for a in args]
        # Each call adds the plugins' commands as main() does, to arrears' own alone.
        groups = [cli, *(c for c in cli.commands.values() if isinstance(c, click.Group))]
        own = {group: dict(group.commands) for group in groups}
        try:
            try:
                add_commands(self.pm, cli)
            except ArrearsError as error:  # main() stops every command so
                return Result(argv, error.exit_code, "", f"Error: {error}\n")
            runner = CliRunner()
            result = runner.invoke(cli, ["--db", self.db_url, *argv], obj=Runtime(self.pm),
                                   input=input, env=env, catch_exceptions=True)
        finally:
            for group, commands in own.items():
                group.commands = commands
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


BACKENDS = ("sqlite", "postgresql")
PG_URL_VARIABLE = "ARREARS_TEST_PG_URL"
PG_REQUIRED_VARIABLE = "ARREARS_TEST_PG_REQUIRED"


def backends(*names: str) -> pytest.MarkDecorator:
    """Run a test on these backends only, e.g. ``@backends("sqlite")`` on a test of
    something only SQLite has (its lock file). The test's ids still name the backend."""
    unknown = set(names) - set(BACKENDS)
    if unknown or not names:
        raise ValueError(f"backends: expected some of {', '.join(BACKENDS)}, got {names}")
    return pytest.mark.parametrize("arrears_db_url", names, indirect=True)


def _migrated_sqlite(path: Path) -> str:
    from arrears.core.db import Database

    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return f"sqlite:///{path}"


class PostgresServer:
    """The server of ``$ARREARS_TEST_PG_URL``, for one pytest session.

    Each test gets a database of its own, copied from a template migrated once
    per session (``CREATE DATABASE … TEMPLATE``), with a database id of its own.
    Databases are dropped without ``WITH (FORCE)``: that option needs the right to
    signal an autovacuum worker that may be visiting the new database, which a
    role with CREATEDB alone lacks. Instead this role's own connections to the
    database are ended, and ``DROP DATABASE`` stops autovacuum by itself.
    """

    def __init__(self, url: str):
        import uuid

        from sqlalchemy import create_engine

        from arrears.core.db import parse_url

        self.url = parse_url(url)
        self.prefix = f"arrears_test_{uuid.uuid4().hex[:8]}"
        self.count = 0
        self.template: str | None = None
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=_null_pool(),
                                   connect_args={"connect_timeout": 5})

    @property
    def display(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def _execute(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.admin.connect() as connection:
            result = connection.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    def check(self) -> None:
        """Raise unless the server answers and this role may create databases."""
        [(may_create,)] = self._execute(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
        if not may_create:
            raise PermissionError(f"the role of {self.display} may not create databases "
                                  "(ALTER ROLE … CREATEDB)")

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        """A new, migrated database: its URL (with the password, for the test's use)."""
        import secrets

        from arrears.core.db import DATABASE_ID, Database
        from arrears.core.schema import meta

        if self.template is None:
            template = f"{self.prefix}_template"
            self._execute(f'CREATE DATABASE "{template}"')
            db = Database(self.url_of(template))
            try:
                db.upgrade()
            finally:
                db.dispose()
            self.template = template
        self.count += 1
        name = f"{self.prefix}_{self.count}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        db = Database(self.url_of(name))
        try:
            with db.begin() as connection:  # every database has an id of its own
                connection.execute(meta.update().where(meta.c.key == DATABASE_ID)
                                   .values(value=secrets.token_hex(8)))
        finally:
            db.dispose()
        return self.url_of(name)

    def drop(self, name: str) -> None:
        """Drop database *name*, ending this role's connections to it first."""
        import time
        import warnings

        from sqlalchemy.exc import DBAPIError

        for attempt in range(5):
            try:
                self._execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid() "
                              "AND usename = current_user", name=name)
                self._execute(f'DROP DATABASE IF EXISTS "{name}"')  # waits up to 5 s
                return
            except DBAPIError as error:
                last = str(error.orig).splitlines()[0] if error.orig else str(error)
                time.sleep(0.2 * (attempt + 1))
        warnings.warn(f"test database {name} on {self.display} could not be dropped: {last}",
                      stacklevel=1)

    def close(self) -> None:
        if self.template is not None:
            self.drop(self.template)
        self.admin.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


@pytest.fixture(scope="session")
def _arrears_postgresql() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the session, checked once; skips (or, with
    ``ARREARS_TEST_PG_REQUIRED=1``, fails) when there is none to reach."""
    import os

    url = os.environ.get(PG_URL_VARIABLE, "").strip()
    required = os.environ.get(PG_REQUIRED_VARIABLE, "") not in ("", "0")
    stop = pytest.fail if required else pytest.skip
    if not url:
        stop(f"PostgreSQL: ${PG_URL_VARIABLE} is not set (postgresql://USER:PASSWORD@HOST/DB, "
             "a role that may create databases)")
    try:
        server = PostgresServer(url)
    except ModuleNotFoundError as error:
        stop(f"PostgreSQL: the driver {error.name} is not installed "
             "(pip install 'arrears[postgresql]')")
        raise  # not reached
    except Exception as error:  # a bad URL: say no more, it may hold a password
        stop(f"PostgreSQL: ${PG_URL_VARIABLE} cannot be used: {type(error).__name__}")
        raise  # not reached
    try:
        server.check()
    except Exception as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        server.admin.dispose()
        stop(f"PostgreSQL: cannot use {server.display}: "
             f"{detail[0].strip() if detail else type(error).__name__}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=BACKENDS)
def arrears_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database, once on each backend: a SQLite file in
    ``tmp_path`` (``[sqlite]``), and a new database on the PostgreSQL server of
    ``$ARREARS_TEST_PG_URL=postgresql://USER:PASSWORD@HOST/DB``, a role that may create
    databases (``[postgresql]``), dropped afterwards. Without that server the
    ``[postgresql]`` tests are skipped, saying why. :func:`backends` limits a test to
    some backends."""
    if request.param == "sqlite":
        yield _migrated_sqlite(tmp_path / "arrears.db")
        return
    server: PostgresServer = request.getfixturevalue("_arrears_postgresql")
    url = server.create()
    try:
        yield url
    finally:
        from sqlalchemy.engine import make_url

        server.drop(str(make_url(url).database))


@pytest.fixture
def arrears_new_db_url(arrears_db_url: str, request: pytest.FixtureRequest,
                       tmp_path: Path) -> Iterator[Callable[[], str]]:
    """``arrears_new_db_url()``: one more fresh, migrated database on the backend of
    ``arrears_db_url``, for a test that compares two books."""
    made: list[str] = []
    server: PostgresServer | None = None if arrears_db_url.startswith("sqlite") else \
        request.getfixturevalue("_arrears_postgresql")

    def make() -> str:
        url = server.create() if server is not None else \
            _migrated_sqlite(tmp_path / f"arrears-{len(made) + 2}.db")
        made.append(url)
        return url

    yield make
    if server is not None:
        from sqlalchemy.engine import make_url

        for url in made:
            server.drop(str(make_url(url).database))


@pytest.fixture
def arrears_cli(arrears_db_url: str, arrears_pm: Any) -> Cli:
    """Call ``arrears_cli("run", "--format", "json")`` to run a command on the test database."""
    return Cli(arrears_db_url, arrears_pm)


@pytest.fixture
def arrears_plugin(arrears_pm: Any) -> Iterator[Callable[..., Any]]:
    """``arrears_plugin(fn, …)`` registers hookimpl functions as one plugin until
    teardown; ``arrears_plugin(module)`` registers a plugin module (unless its entry
    point already did), so a plugin's tests also pass before it is installed."""
    registered: list[Any] = []

    def register(*hookimpls: Any, name: str | None = None) -> Any:
        if len(hookimpls) == 1 and not callable(hookimpls[0]):
            plugin = hookimpls[0]  # a plugin module (or object) as a whole
            if arrears_pm.is_registered(plugin):  # installed: its entry point loaded it
                return plugin
        else:
            plugin = types.ModuleType(name or f"test_plugin_{len(registered)}")
            for function in hookimpls:
                setattr(plugin, function.__name__, function)
        arrears_pm.register(plugin, name=name or getattr(plugin, "__name__", None))
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if arrears_pm.is_registered(plugin):
            arrears_pm.unregister(plugin)


class Book:
    """A book of customers on the test database, driven through the real CLI.

    The few lines a plugin's test needs::

        def test_reminder(arrears_book):
            arrears_book.setup(SETUP_TOML)                # a TOML string or a dict
            arrears_book.load(customers=[{"account": "C1", "name": "Fabrikam",
                                          "currency": "USD"}],
                              invoices=[{...}])
            actions = arrears_book.run("2025-01-16")      # the day's actions, as JSON
            by_day = arrears_book.run_days("2025-01-10", "2025-01-31")

    Every call asserts that the command succeeded (showing its output if not),
    except :meth:`setup` with ``check=False``, which returns the result.
    """

    KINDS = ("customers", "contacts", "invoices", "payments", "rates")

    def __init__(self, cli: Cli, folder: Path):
        self.cli = cli
        self.folder = folder

    def setup(self, setup: str | dict[str, Any], *, files: dict[str, str] | None = None,
              check: bool = True) -> Result:
        """Load *setup* (TOML text, or a dict as ``tomllib`` would read it) with
        ``arrears setup load``; *files* are written beside it (HTML bodies)."""
        if not isinstance(setup, str):
            import tomli_w

            setup = tomli_w.dumps(setup)
        for name, text in (files or {}).items():
            (self.folder / name).write_text(text, encoding="utf-8")
        path = self.folder / "setup.toml"
        path.write_text(setup, encoding="utf-8")
        result = self.cli("setup", "load", path)
        return result.assert_success() if check else result

    def load(self, **rows: list[dict[str, Any]]) -> None:
        """Import rows of each kind (``customers=[{...}]``, ``invoices=…``) as CSV
        files with ``arrears import``, customers first; columns are the rows' keys."""
        import csv

        unknown = set(rows) - set(self.KINDS)
        if unknown:
            raise TypeError(f"unknown kinds {sorted(unknown)}; expected {self.KINDS}")
        for kind in self.KINDS:
            if not rows.get(kind):
                continue
            columns = list(dict.fromkeys(key for row in rows[kind] for key in row))
            path = self.folder / f"{kind}.csv"
            with path.open("w", newline="", encoding="utf-8") as file:
                writer = csv.DictWriter(file, columns)
                writer.writeheader()
                writer.writerows({k: "" if v is None else v for k, v in row.items()}
                                 for row in rows[kind])
            self.cli("import", kind, path).assert_success()

    def run(self, as_of: Any) -> list[dict[str, Any]]:
        """``arrears run --as-of AS_OF``: the actions it took (``run --format json``)."""
        result = self.cli("run", "--as-of", str(as_of), "--format", "json")
        return result.assert_success().json()["actions"]

    def run_days(self, first: Any, last: Any) -> dict[str, list[dict[str, Any]]]:
        """Run every day from *first* to *last*; the actions of each day that had some,
        by ISO date."""
        from datetime import date, timedelta

        day, end = date.fromisoformat(str(first)), date.fromisoformat(str(last))
        done = {}
        while day <= end:
            if actions := self.run(day):
                done[day.isoformat()] = actions
            day += timedelta(days=1)
        return done

    def simulate(self, as_of: Any) -> list[dict[str, Any]]:
        """``arrears simulate --as-of AS_OF``: the actions a run would take."""
        result = self.cli("simulate", "--as-of", str(as_of), "--format", "json")
        return result.assert_success().json()["actions"]

    def history(self, *args: str) -> list[dict[str, Any]]:
        """``arrears history [ARGS]``: the history entries."""
        return self.cli("history", *args, "--format", "json").assert_success().json()["entries"]

    def outbox(self) -> list[dict[str, Any]]:
        """``arrears outbox``: the messages, queued or not."""
        return self.cli("outbox", "--format", "json").assert_success().json()["messages"]


def installed_plugin(cli: Cli, distribution: str) -> dict[str, Any]:
    """The ``arrears plugins --format json`` entry of the plugin *distribution*
    installed; skips the test when the distribution is not installed (a plugin's
    tests run from its checkout before ``pip install``)."""
    from importlib import metadata

    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{distribution} is not installed (pip install it to test its entry point)")
    plugins = cli("plugins", "--format", "json").assert_success().json()["plugins"]
    found = [p for p in plugins if p["distribution"] == distribution]
    assert found, f"{distribution} is installed but arrears loads no plugin from it"
    assert len(found) == 1, f"{distribution} has several plugins: {found}"
    return found[0]


@pytest.fixture
def arrears_book(arrears_cli: Cli, tmp_path: Path) -> Book:
    """A :class:`Book` on a fresh database: load a setup and rows, run days, read actions."""
    folder = tmp_path / "book"
    folder.mkdir()
    return Book(arrears_cli, folder)
