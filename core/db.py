"""Engine, connections, and the schema version: the one way to reach the database."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError

from arrears.core.errors import ArrearsError, BadInput, SchemaBehind

DEFAULT_URL = "sqlite:///arrears.db"
MIGRATIONS = "arrears.core:migrations"
RUN_LOCK_KEY = 0x61727265  # "arre": the advisory lock key of the daily run
SCHEMA_LOCK_KEY = 0x61727273  # "arrs": the advisory lock key of creating the schema


DRIVERS = {  # SQLAlchemy's name of the one driver of each backend arrears speaks
    "sqlite": ("pysqlite", "SQLite through Python's sqlite3 only: write sqlite:///FILE"),
    "postgresql": ("psycopg", "PostgreSQL through psycopg 3 only: write "
                   "postgresql://USER:PASSWORD@HOST[:PORT]/DB"),
}
# user:password@ after the scheme, hidden up to the last @ of the URL: a password
# may hold / ? # unquoted, and one with an unquoted @ is refused (parse_url).
_PASSWORD_IN_URL = re.compile(r"(?<=://)([^/?#@:\s]*):\S*@")
# A password given as a query parameter (?password=…, &sslpassword=…).
_PASSWORD_PARAMETER = re.compile(r"(?i)(\w*password=)[^&\s'\"]*")


def hide_password(text: str) -> str:
    """*text* (a database URL, parsable or not, or a message quoting one) with every
    password in it, in the URL's user part or a query parameter, as ``***``."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1:***@", text))


SQLITE_HINTS = {
    "file is not a database": "",
    "attempt to write a readonly database": " (SQLite writes the database file and, in its "
                                            "folder, its -wal and -shm files: the user running "
                                            "arrears must be able to write both)",
}
"""Hints for SQLite's errors about the file itself; the first names a wrong ``--db``."""


def refuses_url(error: BaseException) -> bool:
    """Whether *error* says the URL is wrong, nothing failed: PostgreSQL's client refusing
    the URL's own options (an unknown option, a value it cannot take such as
    ``sslmode=bogus`` or port 99999) before reaching for any server, or SQLite finding
    that the file is not a database."""
    if str(getattr(error, "orig", "")).startswith("file is not a database"):
        return True
    if getattr(error, "statement", "") is not None:  # a statement ran: not connecting
        return False
    cause = getattr(error, "orig", None)
    if not type(cause).__module__.startswith("psycopg"):
        return False
    import psycopg  # loaded already, as it raised *cause*

    # psycopg's ProgrammingError at connect: an option it does not know or cannot
    # read; "connection is bad": libpq refused the options before any attempt.
    return isinstance(cause, psycopg.ProgrammingError) or \
        str(cause).startswith("connection is bad:")


def parse_url(text: str) -> URL:
    """A SQLAlchemy URL of a supported backend; plain ``postgresql://`` means psycopg 3.

    Raises BadInput, which never shows the password.
    """
    usage = "sqlite:///FILE or postgresql://USER:PASSWORD@HOST[:PORT]/DB"
    try:
        url = make_url(text)
        url.port  # noqa: B018  (a port that is no number fails here, not at connect)
    except (ArgumentError, ValueError):
        shown = hide_password(text)
        if "@" in shown and ":***@" not in shown:  # not even a URL's shape: hide what
            shown = "***@" + shown.rpartition("@")[2]  # could be credentials
        raise BadInput(f"--db: {shown!r} is not a database URL ({usage})") from None
    if url.host and "@" in url.host:  # the password held an @: the host would be wrong
        raise BadInput("--db: the URL has two @ before its host: write an @ in the "
                       "password as %40 (the URL is not shown, it holds a password)")
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    shown = hide_password(url.render_as_string(hide_password=True))
    if url.get_backend_name() not in DRIVERS:
        raise BadInput(f"--db: {shown}: arrears works with SQLite and PostgreSQL only ({usage})")
    driver, only = DRIVERS[url.get_backend_name()]
    if url.get_driver_name() != driver:  # bulk writes use sqlite3's and psycopg's own calls
        raise BadInput(f"--db: {shown}: arrears reaches {only}")
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


def _flock(handle: Any, mode: int) -> bool:
    """``flock``: True when taken, False when another holds it (with LOCK_NB)."""
    try:
        fcntl.flock(handle, mode)
    except BlockingIOError:
        return False
    return True


def _sqlite_begin(connection: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads
    # first can fail outright (SQLITE_BUSY_SNAPSHOT) when another writer commits.
    mode = connection.get_execution_options().get("sqlite_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


# --- bulk writes: where the two backends differ ------------------------------------------

HEAD_REVISION = "0008"
"""The newest migration's revision: what every command but ``init`` requires. Written
here so that commands need not load Alembic to check (a test keeps it equal to the
migrations' head)."""

SQLITE_STATEMENT_CACHE = 8
"""Prepared statements sqlite3 keeps per connection (its default is 128). A batch's
queries name its customers and invoices in IN lists, so each is new SQL and a large
prepared statement; a long cache kept them all and the run's memory grew with the book."""

SQLITE_CACHE_KIB = 256 * 1024
"""SQLite page cache while writing in bulk (taken as needed): inserting into the indexes
of a large table without it rereads pages from the OS again and again."""


@contextlib.contextmanager
def bulk_writes(connection: Connection) -> Iterator[None]:
    """Around a large write. On SQLite, a large page cache, set back afterwards (after a
    failure the connection is rolled back and discarded with its setting)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    connection.exec_driver_sql(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
    yield
    connection.exec_driver_sql(f"PRAGMA cache_size = {before}")


def copy_rows(connection: Connection, table: Table, records: list[dict[str, Any]]) -> bool:
    """Insert *records* (dicts with the same keys) into *table* with PostgreSQL's
    ``COPY … FROM STDIN``, in *connection*'s transaction: several times faster than
    any ``INSERT``. Values go through the columns' types as an INSERT's would, and
    columns the records lack get their Python-side defaults. Returns False, having
    done nothing, on any other backend: the caller inserts them itself.
    """
    if connection.dialect.name != "postgresql" or not records:
        return False
    import psycopg
    from psycopg import sql

    dialect = connection.dialect
    names = list(records[0])
    missing = [column for column in table.columns
               if column.name not in records[0] and column.default is not None]
    if any(not column.default.is_scalar for column in missing):  # type: ignore[union-attr]
        return False  # a default computed per row: INSERT computes it
    defaults = {column.name: column.default.arg  # type: ignore[union-attr]
                for column in missing}
    columns = names + list(defaults)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in names]
    fixed = list(defaults.values())
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    raw = connection.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for record in records:
                values = [record[name] if processor is None else processor(record[name])
                          for name, processor in zip(names, processors, strict=True)]
                copy.write_row(values + fixed if fixed else values)
    except psycopg.Error as error:  # as SQLAlchemy raises a driver's error: a database error
        raise DBAPIError.instance(statement.as_string(raw), None, error, psycopg.Error
                                  ) from None
    return True


WRITE_CHUNK = 20_000
"""Rows per executemany."""
CONVERTED_LIMIT = 100_000
"""Distinct values whose converted form ``executemany`` remembers, per column."""


def insert_rows(connection: Connection, table: Table, records: Sequence[dict[str, Any]], *,
                fast: bool = True) -> None:
    """Insert *records* (dicts; those with the same keys go together) into *table* in
    *connection*'s transaction, the fastest way the backend has: ``COPY`` on
    PostgreSQL (:func:`copy_rows`), :func:`executemany`'s pre-converted rows on SQLite.
    With *fast* False, Core's own executemany (for tests that compare the two)."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        by_keys.setdefault(tuple(record), []).append(record)
    for keys, group in by_keys.items():
        if fast and copy_rows(connection, table, group):
            continue
        executemany(connection, insert_statement(table, keys), group, fast=fast)


def insert_statement(table: Table, names: Iterable[str]) -> Any:
    """INSERT into *table* of the columns *names*, each bound by its own name."""
    return table.insert().values({name: bindparam(name) for name in names})


def executemany(connection: Connection, statement: Any, records: Sequence[dict[str, Any]], *,
                fast: bool = True) -> None:
    """Run *statement* once per record (dicts with the same keys), in chunks.

    Where the driver takes positional parameters (SQLite), the statement is
    compiled once and each record becomes a tuple of values converted by their
    types' bind processors, remembered per value as dates and codes repeat:
    this skips SQLAlchemy's per-row parameter handling, a third of the time of
    a large import and a tenth of a run. A column the records leave out gets its
    constant default (``default=0``), as SQLAlchemy would give it. Elsewhere
    (PostgreSQL) Core's own executemany runs, with its batched
    ``insertmanyvalues``; so it does for a statement that would return rows or
    binds a value the records lack and that has no constant default.
    """
    if not records:
        return
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    order = compiled.positiontup
    defaults = {column.key: column.default.arg
                for column in getattr(compiled, "insert_prefetch", ())
                if column.default is not None and column.default.is_scalar}
    lacking = set(order or ()) - set(records[0])
    if (not fast or not compiled.positional or not order or compiled.effective_returning
            or not lacking <= set(defaults)):
        for start in range(0, len(records), WRITE_CHUNK):
            connection.execute(statement, list(records[start:start + WRITE_CHUNK]))
        return
    if lacking:
        filled = {name: defaults[name] for name in lacking}
        records = [{**filled, **record} for record in records]
    getter = operator.itemgetter(*order)
    converters = [(index, _remembered(processor)) for index, name in enumerate(order)
                  if (processor := compiled.binds[name].type.dialect_impl(dialect)
                      .bind_processor(dialect)) is not None]
    for start in range(0, len(records), WRITE_CHUNK):
        chunk = records[start:start + WRITE_CHUNK]
        if len(order) == 1:
            rows: list[Any] = [(getter(record),) for record in chunk]
        else:
            rows = [getter(record) for record in chunk]
        if converters:
            rows = [_converted(row, converters) for row in rows]
        connection.exec_driver_sql(compiled.string, rows)


def _remembered(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """*processor*, remembering its result for each distinct value (up to a limit)."""
    memo: dict[Any, Any] = {None: None}

    def convert(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            result = processor(value)
            if len(memo) < CONVERTED_LIMIT:
                memo[value] = result
            return result
    return convert


def _converted(row: tuple[Any, ...], converters: list[tuple[int, Callable[[Any], Any]]]
               ) -> tuple[Any, ...]:
    values = list(row)
    for index, convert in converters:
        values[index] = convert(values[index])
    return tuple(values)


def _newer(where: str, revision: str) -> str:
    return (f"the schema of {where} is at revision {revision}, newer than this arrears knows "
            f"({HEAD_REVISION}): a newer arrears made it; upgrade arrears to use it")


class Database:
    """A database named by URL. Nothing connects until it is used."""

    def __init__(self, url: str | URL = DEFAULT_URL):
        self.url = parse_url(url) if isinstance(url, str) else url
        self._engine: Engine | None = None
        self._lock_files: list[Any] = []  # the run lock's files this process holds open

    @property
    def display_url(self) -> str:
        """The URL with any password hidden: the only form shown to users."""
        return hide_password(self.url.render_as_string(hide_password=True))

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def sqlite_path(self) -> Path | None:
        database = self.url.database
        if not self.is_sqlite or not database or database == ":memory:":
            return None
        return Path(database)

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: no other process (a run's worker) can reach it."""
        return self.is_sqlite and self.sqlite_path() is None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                engine = create_engine(self.url, **(
                    {"connect_args": {"cached_statements": SQLITE_STATEMENT_CACHE}}
                    if self.is_sqlite else {"pool_pre_ping": True}))
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

    def forked(self) -> None:
        """In a forked child process: leave the connections pooled by the parent to it
        (never used, never closed here) and connect afresh; close the run lock's files,
        which the parent holds the lock through (closing them here unlocks nothing, and
        the lock is gone as soon as the parent is, whatever becomes of this child)."""
        if self._engine is not None:
            self._engine.dispose(close=False)
        for handle in self._lock_files:
            handle.close()
        self._lock_files = []

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
    def run_lock(self, *, wait: bool = True, waiting: Callable[[], None] | None = None,
                 shard: int | None = None) -> Iterator[None]:
        """Hold the database's run lock: two runs never interleave.

        A whole run holds it alone. A shard of a run (*shard*, numbered from 1)
        shares it with the other shards, so they run side by side, and holds
        a lock of its own shard alone. SQLite: ``flock`` on ``FILE.run-lock``
        beside the database (and ``FILE.run-lock.K`` for shard K); PostgreSQL:
        session advisory locks. All vanish with the process that held them, so
        a killed run leaves nothing to clean up. Without *wait*, a lock held
        elsewhere raises ArrearsError at once; with it, *waiting* is called once
        and the lock is awaited.
        """
        busy = ArrearsError(f"another arrears run is in progress on {self.display_url}")
        shard_busy = ArrearsError(f"shard {shard} of the run is in progress elsewhere on "
                                  f"{self.display_url}")
        told = [False]

        def take(attempt: Callable[[], bool], block: Callable[[], object],
                 refusal: ArrearsError) -> None:
            if attempt():
                return
            if not wait:
                raise refusal
            if waiting is not None and not told[0]:
                waiting()
                told[0] = True
            block()

        with contextlib.ExitStack() as held:
            if self.is_sqlite:
                path = self.sqlite_path()
                if path is None:  # in memory: nobody else can see it
                    yield
                    return
                # Beside the file itself: reached through a symbolic link, it is one lock.
                path = path.resolve()
                if path.exists() and path.stat().st_nlink > 1:
                    warnings.warn(f"{path} has {path.stat().st_nlink} hard links: SQLite "
                                  "keeps its journal under each name, so a command using "
                                  "another name at the same time can corrupt it and is not "
                                  "kept out by the run lock; keep one name (a symbolic link "
                                  "is fine)", stacklevel=1)
                names = [f"{path}.run-lock"] + ([f"{path}.run-lock.{shard}"] if shard else [])
                for index, name in enumerate(names):
                    handle = held.enter_context(open(name, "a+b"))
                    self._lock_files.append(handle)
                    held.callback(self._lock_files.remove, handle)
                    mode = fcntl.LOCK_SH if shard and index == 0 else fcntl.LOCK_EX
                    take(functools.partial(_flock, handle, mode | fcntl.LOCK_NB),
                         functools.partial(_flock, handle, mode),
                         busy if index == 0 else shard_busy)
                    held.callback(fcntl.flock, handle, fcntl.LOCK_UN)
                yield
                return
            connection = held.enter_context(self.engine.connect())
            keys = [("", f"{RUN_LOCK_KEY}")] if not shard else \
                [("_shared", f"{RUN_LOCK_KEY}"), ("", f"{RUN_LOCK_KEY}, {shard}")]
            for index, (kind, key) in enumerate(keys):
                take(lambda kind=kind, key=key: bool(connection.execute(
                         text(f"SELECT pg_try_advisory_lock{kind}({key})")).scalar()),
                     lambda kind=kind, key=key: connection.execute(
                         text(f"SELECT pg_advisory_lock{kind}({key})")),
                     busy if index == 0 else shard_busy)
                connection.commit()
                held.callback(lambda kind=kind, key=key: (connection.execute(
                    text(f"SELECT pg_advisory_unlock{kind}({key})")), connection.commit()))
            yield

    def serialize_runs(self, connection: Connection) -> None:
        """Within *connection*'s transaction, wait for any other transaction that
        started or checks a run (PostgreSQL; SQLite's write transactions already
        run one at a time)."""
        if not self.is_sqlite:
            connection.execute(text(f"SELECT pg_advisory_xact_lock({RUN_LOCK_KEY}, 0)"))

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
            current = _stored_revision(connection)
            if current is None:
                _refuse_foreign_tables(connection, self.display_url)
                raise SchemaBehind(f"{self.display_url} has no arrears schema: create it "
                                   "with `arrears init`")
        head = HEAD_REVISION
        if current > head:  # revisions are numbered 0001, 0002, …
            raise BadInput(_newer(self.display_url, current))
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
            if not self.is_sqlite:  # two inits at once: the second waits, then has nothing to do
                connection.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})"))
            before = self.current_revision(connection)
            if before is not None and before > self.head_revision():
                raise BadInput(_newer(self.display_url, before))
            if before is None:
                _refuse_foreign_tables(connection, self.display_url)
            command.upgrade(self._alembic_config(connection), "head")
            ensure_database_id(connection)
        return before, self.head_revision()


DATABASE_ID = "database_id"


def ensure_database_id(connection: Connection) -> str:
    """This database's random id (``meta`` key ``database_id``), made once if missing.

    It goes into every Message-ID, so messages of two databases never share one.
    """
    import secrets

    from arrears.core.schema import meta

    found = connection.execute(
        meta.select().with_only_columns(meta.c.value).where(meta.c.key == DATABASE_ID)).scalar()
    if found is not None:
        return str(found)
    value = secrets.token_hex(8)
    connection.execute(meta.insert().values(key=DATABASE_ID, value=value))
    return value


def _refuse_foreign_tables(connection: Connection, where: str) -> None:
    """BadInput when a database without arrears' schema has tables of the names arrears'
    schema uses: somebody else's, which arrears must neither read nor try to create."""
    from arrears.core.schema import metadata

    clashing = sorted(set(inspect(connection).get_table_names()) & set(metadata.tables))
    if clashing:
        raise BadInput(f"{where} is not an arrears database, and has tables of the names "
                       f"arrears uses ({', '.join(clashing)}): give arrears a database of "
                       "its own (--db)")


def _stored_revision(connection: Connection) -> str | None:
    """The schema's revision as Alembic recorded it, or None: no ``alembic_version`` table."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
