"""Engine, connections, and the schema version: the one way to reach the database."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError

from arrears.core.errors import ArrearsError, BadInput, SchemaBehind

DEFAULT_URL = "sqlite:///arrears.db"
MIGRATIONS = "arrears.core:migrations"
RUN_LOCK_KEY = 0x61727265  # "arre": the advisory lock key of the daily run


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
    # pysqlite's own transaction handling would let a SAVEPOINT's RELEASE commit
    # the whole transaction; turn it off and emit BEGIN ourselves (_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads
    # first can fail outright (SQLITE_BUSY_SNAPSHOT) when another writer commits.
    mode = connection.get_execution_options().get("sqlite_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


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
            try:
                engine = create_engine(self.url, **({} if self.is_sqlite else
                                                    {"pool_pre_ping": True}))
            except ModuleNotFoundError as missing:
                extra = " (pip install 'arrears[postgresql]')" if \
                    self.url.get_backend_name() == "postgresql" else ""
                raise BadInput(f"--db: {self.display_url} needs the Python package "
                               f"{missing.name}, which is not installed{extra}") from None
            if self.is_sqlite:
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin)
            self._engine = engine
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        with self.engine.connect() as connection:
            connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading only: whatever happens, nothing is committed."""
        with self.engine.connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    @contextlib.contextmanager
    def run_lock(self, *, wait: bool = True,
                 waiting: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the database's run lock: two runs never interleave.

        SQLite: an exclusive lock on ``FILE.run-lock`` beside the database;
        PostgreSQL: a session advisory lock. Both vanish with the process that
        held them, so a killed run leaves nothing to clean up. Without *wait*,
        a lock held elsewhere raises ArrearsError at once; with it, *waiting*
        is called once and the lock is awaited.
        """
        busy = ArrearsError(f"another arrears run is in progress on {self.display_url}")
        if self.is_sqlite:
            path = self.sqlite_path()
            if path is None:
                yield
                return
            with open(f"{path}.run-lock", "a+b") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not wait:
                        raise busy from None
                    if waiting is not None:
                        waiting()
                    fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        with self.engine.connect() as connection:
            key = text(f"SELECT pg_try_advisory_lock({RUN_LOCK_KEY})")
            if not connection.execute(key).scalar():
                if not wait:
                    raise busy
                if waiting is not None:
                    waiting()
                connection.execute(text(f"SELECT pg_advisory_lock({RUN_LOCK_KEY})"))
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text(f"SELECT pg_advisory_unlock({RUN_LOCK_KEY})"))
                connection.commit()

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
            ensure_database_id(connection)
        return before, self.head_revision()


DATABASE_ID = "database_id"


def ensure_database_id(connection: Connection) -> str:
    """This database's random id (``meta`` key ``database_id``), made once if missing.

    It goes into every Message-ID, so messages of two databases never share one.
    """
    import secrets

    from arrears.core.schema import Meta

    meta = Meta.__table__
    found = connection.execute(
        meta.select().with_only_columns(meta.c.value).where(meta.c.key == DATABASE_ID)).scalar()
    if found is not None:
        return str(found)
    value = secrets.token_hex(8)
    connection.execute(meta.insert().values(key=DATABASE_ID, value=value))
    return value
