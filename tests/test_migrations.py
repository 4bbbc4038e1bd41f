"""The migrations: one head, and the migrated schema equals the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from arrears.core.db import Database
from arrears.core.schema import Base


def test_there_is_a_single_head(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert len(ScriptDirectory.from_config(db._alembic_config()).get_heads()) == 1


def test_the_migrated_schema_matches_the_models(arrears_db_url):
    db = Database(arrears_db_url)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_init_twice_changes_nothing(arrears_cli):
    result = arrears_cli("init").assert_success()
    assert "schema is up to date" in result.stderr


def test_commands_refuse_a_schema_that_is_behind_and_name_init(arrears_cli, arrears_db_url):
    db = Database(arrears_db_url)
    with db.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    result = arrears_cli("setup", "show").assert_exit(2)
    assert "is at revision 0000" in result.stderr and "`arrears init`" in result.stderr


def test_commands_refuse_a_database_without_the_schema(tmp_path, arrears_pm):
    from arrears.core.testing import Cli

    other = tmp_path / "other.db"
    Database(f"sqlite:///{other}").engine.connect().close()  # an empty SQLite file
    result = Cli(f"sqlite:///{other}", arrears_pm)("plugins")
    result.assert_success()  # listing plugins needs no database
    refused = Cli(f"sqlite:///{other}", arrears_pm)("setup", "show").assert_exit(2)
    assert "has no arrears schema" in refused.stderr and "arrears init" in refused.stderr
