"""The migrations: one head; every revision, up and down, on both backends; the migrated
schema equals the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from arrears.core.db import Database
from arrears.core.schema import metadata
from arrears.core.testing import backends


def test_there_is_a_single_head(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert len(ScriptDirectory.from_config(db._alembic_config()).get_heads()) == 1


def drift(db: Database) -> list[object]:
    """What autogenerate would change to make the database match the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_the_migrated_schema_matches_the_models(arrears_db_url):
    db = Database(arrears_db_url)
    try:
        assert drift(db) == []
    finally:
        db.dispose()


def migrate(db: Database, how: str, revision: str) -> str | None:
    """``alembic upgrade|downgrade REVISION`` in one transaction; the revision after."""
    with db.engine.begin() as connection:
        getattr(command, how)(db._alembic_config(connection), revision)
        return db.current_revision(connection)


def tables(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_an_empty_database_goes_through_every_revision_and_back(arrears_db_url):
    db = Database(arrears_db_url)
    script = ScriptDirectory.from_config(db._alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]  # oldest first
    assert revisions[0] == "0001" and len(revisions) >= 4
    try:
        assert migrate(db, "downgrade", "base") is None
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
        assert tables(db) == set()  # empty, as a new database is

        seen: set[str] = set()
        for revision in revisions:
            assert migrate(db, "upgrade", revision) == revision
            now = tables(db)
            assert seen <= now, f"{revision} lost tables {seen - now}"
            seen = now
        assert seen == set(metadata.tables) | {"alembic_version"}
        assert drift(db) == []

        # A book written at the first revision survives every later one.
        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM customer"))
        migrate(db, "downgrade", revisions[0])
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO customer (id, account, name, currency) "
                                    "VALUES (1, 'C1', 'Fabrikam', 'USD')"))
            connection.execute(text(
                "INSERT INTO invoice (id, number, customer_id, invoice_date, due_date, "
                "currency, amount_minor, open_minor, status) VALUES (1, 'INV-1', 1, "
                "'2025-01-01', '2025-01-31', 'USD', 12345, 12345, 'none')"))
            connection.execute(text(
                "INSERT INTO history (date, customer_id, invoice_id, kind, reason) "
                "VALUES ('2025-02-01', 1, 1, 'excluded', 'collections status disputed')"))
        for revision in revisions[1:]:
            assert migrate(db, "upgrade", revision) == revision
        with db.engine.connect() as connection:
            assert [tuple(r) for r in connection.execute(text(
                "SELECT c.account, i.number, i.open_minor FROM invoice i "
                "JOIN customer c ON c.id = i.customer_id"))] == [("C1", "INV-1", 12345)]
            assert [tuple(r) for r in connection.execute(text(
                "SELECT customer_id, invoice_id, kind, reason FROM history"))] == [
                (1, 1, "excluded", "collections status disputed")]
        assert drift(db) == []
        assert migrate(db, "upgrade", "head") == db.head_revision()
    finally:
        db.dispose()


def test_init_twice_changes_nothing(arrears_cli):
    result = arrears_cli("init").assert_success()
    assert "schema is up to date" in result.stderr


def test_commands_refuse_a_schema_that_is_behind_and_name_init(arrears_cli, arrears_db_url):
    db = Database(arrears_db_url)
    with db.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    result = arrears_cli("setup", "show").assert_exit(2)
    assert "is at revision 0000" in result.stderr and "`arrears init`" in result.stderr


def test_a_schema_newer_than_this_arrears_is_refused_by_name(arrears_cli, arrears_db_url):
    db = Database(arrears_db_url)
    with db.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for args in (["setup", "show"], ["init"]):
        result = arrears_cli(*args).assert_exit(2)
        assert "is at revision 0099, newer than this arrears knows" in result.stderr
        assert "upgrade arrears" in result.stderr and "internal error" not in result.stderr


def test_commands_refuse_a_database_without_the_schema(tmp_path, arrears_pm):
    from arrears.core.testing import Cli

    other = tmp_path / "other.db"
    Database(f"sqlite:///{other}").engine.connect().close()  # an empty SQLite file
    result = Cli(f"sqlite:///{other}", arrears_pm)("plugins")
    result.assert_success()  # listing plugins needs no database
    refused = Cli(f"sqlite:///{other}", arrears_pm)("setup", "show").assert_exit(2)
    assert "has no arrears schema" in refused.stderr and "arrears init" in refused.stderr


def test_the_revision_commands_require_is_the_migrations_head(arrears_db_url):
    from arrears.core.db import HEAD_REVISION, Database

    db = Database(arrears_db_url)
    assert HEAD_REVISION == db.head_revision()
    db.dispose()


def test_a_database_with_somebody_elses_tables_of_arrears_names_is_refused(arrears_db_url,
                                                                           arrears_cli):
    """Tables named as arrears' own, but without arrears' schema: not arrears' to read,
    nor to create tables beside (``init`` used to fail half-way on "already exists")."""
    db = Database(arrears_db_url)
    with db.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("CREATE TABLE customer (id INTEGER PRIMARY KEY, note TEXT)"))
        connection.execute(text("INSERT INTO customer VALUES (1, 'theirs')"))
    db.dispose()
    for args in (["history"], ["init"], ["init", "--demo"]):
        refused = arrears_cli(*args).assert_exit(2)
        assert "is not an arrears database, and has tables of the names arrears uses " \
               "(customer)" in refused.stderr, refused.stderr
    with db.begin() as connection:
        assert inspect(connection).get_table_names() == ["customer"]
        assert connection.execute(text("SELECT note FROM customer")).scalars().all() == \
            ["theirs"]
    db.dispose()


@backends("postgresql")  # SQLite's writers already take turns
def test_inits_at_once_on_an_empty_database_all_succeed(arrears_db_url):
    import os
    import subprocess
    import sys

    db = Database(arrears_db_url)
    with db.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(text("DROP TABLE alembic_version"))
    env = {**os.environ, "ARREARS_LOAD_PLUGINS": "", "ARREARS_DB": arrears_db_url}
    inits = [subprocess.Popen([sys.executable, "-m", "arrears.core", "init"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    said = [init.communicate(timeout=120) for init in inits]
    assert [init.returncode for init in inits] == [0, 0, 0], said
    assert sum("schema created ->" in err for _, err in said) == 1
    with db.begin() as connection:
        assert db.current_revision(connection) == db.head_revision()
    db.dispose()


def test_amounts_stored_with_cldr_digits_keep_their_value_in_iso_4217_units(arrears_db_url,
                                                                           arrears_cli):
    """0008: 1234 RSD was stored as 1234 units (CLDR's 0 digits); in ISO 4217's 2 digits
    it is 123400, and it must still read 1234.00 RSD, its payments and letters too."""
    arrears_cli("init").assert_success()
    db = Database(arrears_db_url)
    try:
        migrate(db, "downgrade", "0007")
        with db.engine.begin() as connection:
            for sql in (
                "INSERT INTO customer (id, account, name, currency, credit_limit_minor) VALUES "
                "(1, 'R1', 'Beograd doo', 'RSD', 50000), (2, 'U1', 'Acme', 'USD', 50000)",
                "INSERT INTO invoice (id, number, customer_id, invoice_date, due_date, currency,"
                " amount_minor, open_minor, status) VALUES (1, 'R-1', 1, '2025-01-01', "
                "'2025-01-31', 'RSD', 1234, 1000, 'none'), (2, 'I-1', 1, '2025-01-01', "
                "'2025-01-31', 'IQD', 7, 7, 'none'), (3, 'U-1', 2, '2025-01-01', '2025-01-31', "
                "'USD', 1234, 1000, 'none')",
                "INSERT INTO payment (invoice_id, date, amount_minor, reference) VALUES "
                "(1, '2025-01-10', 234, ''), (3, '2025-01-10', 234, '')",
                "INSERT INTO letter (id, customer_id, sequence, code, position, date, currency, "
                "total_minor, fee_minor) VALUES (1, 1, 'STD', 'L1', 1, '2025-02-01', 'RSD', "
                "1007, 5)",
                "INSERT INTO letter_invoice (letter_id, invoice_id, open_minor) VALUES "
                "(1, 1, 1000)"):
                connection.execute(text(sql))
        assert migrate(db, "upgrade", "0008") == "0008"
        with db.engine.connect() as connection:
            def read(sql: str) -> list[tuple]:
                return [tuple(r) for r in connection.execute(text(sql))]

            assert read("SELECT number, amount_minor, open_minor FROM invoice ORDER BY id") == [
                ("R-1", 123400, 100000), ("I-1", 7000, 7000), ("U-1", 1234, 1000)]
            assert read("SELECT amount_minor FROM payment ORDER BY invoice_id") == [(23400,),
                                                                                   (234,)]
            assert read("SELECT credit_limit_minor FROM customer ORDER BY id") == [(5000000,),
                                                                                 (50000,)]
            assert read("SELECT total_minor, fee_minor FROM letter") == [(100700, 500)]
            assert read("SELECT open_minor FROM letter_invoice") == [(100000,)]
        assert migrate(db, "downgrade", "0007") == "0007"
        with db.engine.connect() as connection:
            assert [tuple(r) for r in connection.execute(text(
                "SELECT amount_minor, open_minor FROM invoice ORDER BY id"))] == [
                (1234, 1000), (7, 7), (1234, 1000)]
        migrate(db, "upgrade", "head")
    finally:
        db.dispose()
    [letter] = arrears_cli("letters", "--format", "json").assert_success().json()["letters"]
    assert (letter["total"], letter["fee"], letter["currency"]) == ("1007.00", "5.00", "RSD")
