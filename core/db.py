"""Engine, connections, and the schema version: the one way to reach the database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from arrears.core.errors import BadInput, SchemaBehind

DEFAULT_URL = "sqlite:///arrears.db"
MIGRATIONS = "arrears.core:migrations"


def parse_url(text: str) -> URL:
    """A SQLAlchemy URL; plain ``postgresql://`` means psycopg 3."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise BadInput(f"--db: {text!r} is not a database URL (sqlite:///FILE or "
                       "postgresql://USER@HOST/DB)") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit off at the driver level so SQLAlchemy's BEGIN is the only one.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


class Database:
    """A database named by URL. Nothing connects until it is used."""

    def __init__(self, url: str | URL = DEFAULT_URL):
        self.url = parse_url(url) if isinstance(url, str) else url
        self._engine: Engine | None = None

    @property
    def display_url(self) -> str:
        """The URL with any password hidden: the only form shown to users."""
        return self.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def sqlite_path(self) -> Path | None:
        database = self.url.database
        if not self.is_sqlite or not database or database == ":memory:":
            return None
        return Path(database)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.is_sqlite:
                self._engine = create_engine(self.url)
                event.listen(self._engine, "connect", _sqlite_pragmas)
            else:
                self._engine = create_engine(self.url, pool_pre_ping=True)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success, rolled back on error."""
        with self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading only: whatever happens, nothing is committed."""
        with self.engine.connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    def session(self) -> Session:
        return Session(self.engine)

    # --- schema -------------------------------------------------------------

    def _alembic_config(self, connection: Connection | None = None) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        config.attributes["connection"] = connection
        return config

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

    def current_revision(self, connection: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()

    def require_current(self) -> None:
        """Refuse a database that is missing or whose schema is behind; upgrade nothing."""
        path = self.sqlite_path()
        if path is not None and not path.exists():
            raise SchemaBehind(f"no arrears database at {path}: create it with `arrears init`")
        with self.engine.connect() as connection:
            current = self.current_revision(connection)
            if current is None:
                tables = inspect(connection).get_table_names()
                what = "is not an arrears database" if tables else "has no arrears schema"
                raise SchemaBehind(f"{self.display_url} {what}: create it with `arrears init`")
        head = self.head_revision()
        if current != head:
            raise SchemaBehind(
                f"the schema of {self.display_url} is at revision {current}, this arrears "
                f"needs {head}: upgrade it with `arrears init`"
            )

    def upgrade(self) -> tuple[str | None, str]:
        """Create or migrate the schema to the newest revision: (before, after)."""
        from alembic import command

        path = self.sqlite_path()
        if path is not None and path.parent and not path.parent.exists():
            raise BadInput(f"--db: folder {path.parent} does not exist")
        with self.engine.begin() as connection:
            before = self.current_revision(connection)
            command.upgrade(self._alembic_config(connection), "head")
        return before, self.head_revision()
