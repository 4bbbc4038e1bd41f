"""``--db URL``: the backends arrears works with, and a password in the URL that is never
shown: not in output, not in errors, not in logs."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.engine import make_url

from arrears.core.db import Database, hide_password, parse_url
from arrears.core.errors import BadInput
from arrears.core.testing import Cli, backends

SECRET = "Pw-only-here-7q"


@pytest.mark.parametrize("url", [
    f"postgresql://ar:{SECRET}@db.example:port/arrears",  # a port that is no number
    f"no url at all, ar:{SECRET}@",
    f"mysql://ar:{SECRET}@db.example/arrears",  # a backend arrears does not work with
    f"oracle+cx_oracle://ar:{SECRET}@db.example/arrears",
    f"postgresql://ar:x@{SECRET}@db.example/arrears",  # an @ in the password, unquoted
    f"postgresql+psycopg2://ar:{SECRET}@db.example/arrears",  # drivers arrears does not use
    f"postgresql+asyncpg://ar:{SECRET}@db.example/arrears",
    "sqlite+aiosqlite:///arrears.db",
])
def test_a_bad_url_is_refused_without_its_password(url):
    with pytest.raises(BadInput) as refused:
        parse_url(url)
    assert str(refused.value).startswith("--db: ") and SECRET not in str(refused.value)


@pytest.mark.parametrize("url", [
    f"postgresql://ar:{SECRET}@db.example:port/arrears",
    f"mysql://ar:{SECRET}@db.example/arrears",
    f"postgresql://ar:x@{SECRET}@127.0.0.1:1/arrears",
])
def test_a_bad_url_on_the_command_line_is_exit_2_without_its_password(arrears_pm, url):
    result = Cli(url, arrears_pm)("setup", "show").assert_exit(2)
    assert "--db: " in result.stderr and SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(("option", "reason"), [
    ("foo=bar", 'invalid connection option "foo"'),
    ("sslmode=bogus", 'invalid sslmode value: "bogus"'),
    ("connect_timeout=soon", "bad value for connect_timeout"),
])
def test_options_libpq_refuses_are_bad_usage_without_a_server(arrears_pm, option, reason):
    pytest.importorskip("psycopg")
    # Port 1: nothing listens there, so only the URL itself can be what is refused.
    result = Cli(f"postgresql://ar:{SECRET}@127.0.0.1:1/arrears?{option}", arrears_pm)(
        "setup", "show").assert_exit(2)
    assert result.stderr.startswith("Error: --db: postgresql+psycopg://ar:***@127.0.0.1:1/")
    assert reason in result.stderr and SECRET not in result.stdout + result.stderr
    unreachable = Cli(f"postgresql://ar:{SECRET}@127.0.0.1:1/arrears", arrears_pm)(
        "setup", "show").assert_exit(1)  # the URL is fine; the server is not there
    assert "database error on postgresql+psycopg://ar:***@127.0.0.1:1/" in unreachable.stderr


def test_another_driver_is_refused_naming_the_one_arrears_uses():
    with pytest.raises(BadInput, match="through psycopg 3 only: write postgresql://"):
        parse_url("postgresql+psycopg2://ar@db.example/arrears")
    with pytest.raises(BadInput, match="through Python's sqlite3 only: write sqlite:///FILE"):
        parse_url("sqlite+aiosqlite:///arrears.db")


def test_plain_postgresql_means_psycopg_3():
    assert parse_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"


def test_hide_password_hides_it_in_any_text():
    assert hide_password(f"at postgresql://ar:{SECRET}@h:5432/db?x=1 failed") == \
        "at postgresql://ar:***@h:5432/db?x=1 failed"
    assert hide_password("sqlite:///a@b.db") == "sqlite:///a@b.db"
    for password in ("pa/ss", "p@ss", "p?x#y"):  # SQLAlchemy takes each of these unquoted
        assert hide_password(f"postgresql://ar:{password}@h/db") == "postgresql://ar:***@h/db"
    assert Database(f"postgresql://ar:{SECRET}@h/db").display_url == \
        "postgresql+psycopg://ar:***@h/db"
    assert hide_password(f"postgresql://ar@h/db?sslmode=require&password={SECRET}&x=1") == \
        "postgresql://ar@h/db?sslmode=require&password=***&x=1"
    assert Database(f"postgresql://ar@h/db?sslpassword={SECRET}").display_url == \
        "postgresql+psycopg://ar@h/db?sslpassword=***"


def test_a_password_given_as_a_parameter_is_never_shown(arrears_pm):
    result = Cli(f"postgresql://ar@127.0.0.1:1/arrears?password={SECRET}", arrears_pm)(
        "setup", "show").assert_exit(1)
    assert "password=***" in result.stderr and SECRET not in result.stdout + result.stderr


@backends("postgresql")  # SQLite URLs carry no password
def test_the_password_of_the_database_is_never_shown(arrears_cli, arrears_db_url, data,
                                                    caplog):
    caplog.set_level(logging.DEBUG)  # every logger: SQLAlchemy's, psycopg's, alembic's
    url = make_url(arrears_db_url)
    assert url.password
    shown = f":{url.password}@"  # the URL as written, password and all
    outputs = []
    for args in (["init"], ["setup", "show"], ["setup", "load", data / "setup.toml"],
                 ["import", "customers", data / "customers.csv"], ["run", "--as-of", "2025-01-10"],
                 ["history"], ["outbox", "--format", "json"], ["explain", "NOBODY"]):
        result = arrears_cli(*args)
        outputs += [result.stdout, result.stderr]
    db = Database(arrears_db_url)
    try:
        with db.run_lock():
            refused = arrears_cli("run", "--no-wait").assert_exit(1)
    finally:
        db.dispose()
    assert "another arrears run is in progress on postgresql+psycopg://" in refused.stderr
    assert ":***@" in refused.stderr
    outputs += [refused.stdout, refused.stderr]
    wrong = Cli(url.set(password="Wrong-" + SECRET).render_as_string(hide_password=False),
                arrears_cli.pm)("setup", "show").assert_exit(1)
    assert "database error on postgresql+psycopg://" in wrong.stderr
    outputs += [wrong.stdout, wrong.stderr]
    logs = [record.getMessage() for record in caplog.records]
    for index, text in enumerate(outputs + logs):
        assert shown not in text and SECRET not in text, f"text {index}: {text[:300]}"


def test_bulk_writes_give_left_out_columns_their_defaults_as_core_does(arrears_db_url,
                                                                        arrears_new_db_url):
    """insert_rows' fast path (SQLite: pre-converted rows) fills a column the records
    leave out with its constant default, exactly as SQLAlchemy's own executemany does."""
    from datetime import datetime

    from sqlalchemy import select

    from arrears.core import db as db_module
    from arrears.core import schema

    customers, outbox = schema.customer, schema.outbox
    stored = []
    for url, fast in ((arrears_db_url, True), (arrears_new_db_url(), False)):
        with Database(url).begin() as connection:
            connection.execute(customers.insert().values(
                id=1, account="C1", name="Acme", currency="USD"))
            db_module.insert_rows(connection, outbox, [
                {"dedupe_key": f"k{n}", "customer_id": 1, "channel": "email",
                 "recipient": "a@acme.example", "created": datetime(2025, 1, 16, 6)}
                for n in (1, 2)], fast=fast)
            stored.append(connection.execute(
                select(outbox.c.dedupe_key, outbox.c.status, outbox.c.attempts,
                       outbox.c.subject, outbox.c.body_html).order_by(outbox.c.id)).all())
    assert stored[0] == stored[1] == [("k1", "queued", 0, "", ""), ("k2", "queued", 0, "", "")]


@backends("sqlite")
def test_a_library_warning_is_one_line_without_source(arrears_db_url, arrears_cli):
    import os
    import subprocess
    import sys

    arrears_cli("init").assert_success()
    done = subprocess.run([sys.executable, "-m", "arrears.core", "--db",
                           f"{arrears_db_url}?foo=bar", "history"], capture_output=True,
                          text=True, env={**os.environ, "ARREARS_LOAD_PLUGINS": ""})
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()  # SQLAlchemy's words, one line, no source lines
    assert line.startswith("warning: Query string argument(s) 'foo' are not accepted")
    assert ".py:" not in line


def test_one_sqlite_file_has_one_run_lock_whatever_its_name(tmp_path):
    import os

    from arrears.core.errors import ArrearsError

    real = tmp_path / "books" / "arrears.db"
    real.parent.mkdir()
    Database(f"sqlite:///{real}").upgrade()
    (tmp_path / "link.db").symlink_to(real)
    direct, linked = Database(f"sqlite:///{real}"), Database(f"sqlite:///{tmp_path}/link.db")
    with direct.run_lock(), pytest.raises(ArrearsError, match="another arrears run"):
        with linked.run_lock(wait=False):
            pass
    os.link(real, tmp_path / "hard.db")  # SQLite's own journal would be per name: told
    with pytest.warns(UserWarning, match="has 2 hard links: SQLite keeps its journal"):
        with Database(f"sqlite:///{tmp_path}/hard.db").run_lock():
            pass
