"""CSV import (``arrears import KIND FILE``): validated whole, then upserted in bulk.

The file is read once with the csv module; every cell is checked in plain
Python against the kind's field table; references (customers, invoices) and
existing rows are looked up with one query per table (or per chunk of keys);
then rows are inserted and updated with Core ``executemany`` in chunks. Every
problem is collected first and raised as one :class:`BadInput` before anything
is written, so a bad file changes nothing. docs/csv.md is the user's reference.
"""

from __future__ import annotations

import csv
import difflib
import gc
import heapq
import io
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import Column, Connection, Table, and_, bindparam, func, select

from arrears.core import db, money, options, schema, setupfile
from arrears.core.domain import COLLECTIONS_STATUSES, Parameters
from arrears.core.errors import ArrearsError, BadInput

KINDS = ("customers", "contacts", "invoices", "payments", "rates")

MAX_PROBLEMS = 50
"""Problems shown; the rest are counted in one last line."""
FAST_WRITES = True
"""Write through ``db.insert_rows`` and ``db.executemany``'s fast paths; the tests turn
it off to check that Core's own path stores the same."""
MEMO_LIMIT = 100_000
"""Distinct values remembered per repeating column."""
LOOKUP_CHUNK = 500
"""Keys per ``IN (…)`` lookup query."""
FULL_LOAD = 20_000
"""With more distinct keys than this, a lookup reads the whole table in one query."""
RATE_DECIMALS = 12
RATE_DIGITS = 18

customers_t = schema.customer
contacts_t = schema.contact
invoices_t = schema.invoice
payments_t = schema.payment
rates_t = schema.rate
history_t = schema.history


@attrs.frozen
class ImportSummary:
    kind: str
    file: str
    rows: int
    inserted: int
    updated: int
    warnings: list[str] = attrs.Factory(list)


def import_file(connection: Connection, kind: str, path: Path) -> ImportSummary:
    """Import the CSV file *path* of *kind*: every row, or nothing (BadInput).

    Runs in the caller's transaction; raises BadInput listing every problem
    (``FILE:LINE: COLUMN: message``) before anything is written.
    """
    spec = SPECS.get(kind)
    if spec is None:
        raise BadInput(f"KIND: {kind!r} is not one of {', '.join(KINDS)}")
    problems = Problems(str(path))
    with _gc_paused():
        rejected: list[Row] = []
        rows = _parse_file(spec, path, problems, rejected)
        changes = spec.plan(Planning(connection, problems, rejected), rows)
        problems.raise_if_any()
        del rows
        with db.bulk_writes(connection):
            _write(connection, spec.table, changes)
    return ImportSummary(kind, str(path), changes.rows, len(changes.inserts),
                         len(changes.updates),
                         _rates_missing(connection) if kind in ("invoices", "rates") else [])


def _rates_missing(connection: Connection) -> list[str]:
    """A warning for each currency of open invoices that has no exchange rate at all: its
    customers fail every run where an amount must be converted (SEMANTICS.md §7)."""
    parameters = setupfile.stored_parameters(connection)
    if parameters is None:  # no setup yet: no accounting currency to convert into
        return []
    accounting = parameters.get("accounting_currency", Parameters().accounting_currency)
    c = invoices_t.c
    missing = connection.execute(
        select(c.currency).where(c.open_minor > 0, c.currency != accounting,
                                 c.currency.not_in(select(rates_t.c.currency)))
        .distinct().order_by(c.currency)).scalars().all()
    return [f"no exchange rate for {currency} at all: a customer with open {currency} "
            "invoices fails every run where an amount must be converted (a balance "
            "threshold or criterion, a letter fee) until `arrears import rates` gives one"
            for currency in missing]


# --- problems --------------------------------------------------------------------------


class Problems:
    """The problems of one file: the first MAX_PROBLEMS by line, and a count of all."""

    def __init__(self, file: str):
        self.file = file
        self.count = 0
        self._heap: list[tuple[int, int, str]] = []  # (-line, -seq, text): the largest on top

    def add(self, line: int, column: str | None, message: str) -> None:
        """Record a problem at *line* (1 is the header), in *column* if any."""
        self.count += 1
        where = f"{self.file}:{line}: " + (f"{column}: " if column else "")
        item = (-line, -self.count, where + message)
        if len(self._heap) < MAX_PROBLEMS:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def fatal(self, line: int, column: str | None, message: str) -> BadInput:
        """The BadInput for a problem that stops reading, with those found before it."""
        self.add(line, column, message)
        return BadInput(self.messages())

    def messages(self) -> list[str]:
        shown = [text for _, _, text in sorted(self._heap, reverse=True)]
        if self.count > len(shown):
            shown.append(f"… and {self.count - len(shown)} more problems")
        return shown

    def raise_if_any(self) -> None:
        if self.count:
            raise BadInput(self.messages())


@attrs.frozen
class Planning:
    """What a plan works with: the connection, the problems so far, and the rows already
    rejected (their references are still checked, so that every problem is reported)."""

    connection: Connection
    problems: Problems
    rejected: list[Row]


# --- cells ----------------------------------------------------------------------------

MAX_MINOR = 10**18
"""Amounts (in minor units) must stay below this: the columns are 64-bit integers."""
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# Control characters are no text: NUL cannot even be stored by PostgreSQL, and the
# others (ESC above all) would reach the terminal of whoever lists the data, and mail
# headers. A tab is allowed; line breaks only where a value has lines (an address).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text(limit: int | None, *, lines: int = 1) -> Callable[[str], str]:
    """A text cell of at most *limit* characters and *lines* lines, with no control
    character but tab and, with more than one line, line breaks."""
    control = _CONTROL if lines == 1 else _CONTROL_BUT_LINES

    def parse(cell: str) -> str:
        if limit is not None and len(cell) > limit:
            raise ValueError(f"is longer than {limit} characters ({len(cell)})")
        if (found := control.search(cell)) is not None:
            what = "a line break" if found[0] in "\r\n" else \
                f"the control character U+{ord(found[0]):04X}"
            raise ValueError(f"holds {what}, which is not allowed here")
        if lines > 1 and len(cell.splitlines()) > lines:
            raise ValueError(f"has more than {lines} lines ({len(cell.splitlines())})")
        return cell
    return parse


def column_text(column: Column[Any]) -> Callable[[str], str]:
    """A text cell as long as *column* allows."""
    return text(getattr(column.type, "length", None))


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
"""The dates arrears takes: a book's history reaches years back, its plans years ahead,
and a day's arithmetic (a due date plus a step's hundred years at most) stays a date.
A ledger's 9999-12-31 for "no date" is not a due date."""


def parse_date(cell: str) -> date:
    """A ``YYYY-MM-DD`` date from :data:`FIRST_DAY` to :data:`LAST_DAY`."""
    if not _DATE.fullmatch(cell):
        raise ValueError(f'"{cell}" is not a date (YYYY-MM-DD)')
    try:
        day = date.fromisoformat(cell)
    except ValueError:
        raise ValueError(f'"{cell}" is not a day of the calendar') from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f'"{cell}" is not a date arrears takes (from {FIRST_DAY} to '
                         f"{LAST_DAY})")
    return day


def parse_currency(cell: str) -> str:
    """An ISO 4217 currency code, upper case."""
    if not money.is_currency(cell):
        raise ValueError(f'"{cell}" is not an ISO 4217 currency code (EUR, USD, …)')
    return cell.upper()


def parse_status(cell: str) -> str:
    """A collections status, in any case (``Disputed``), as currency codes are."""
    if cell.lower() not in COLLECTIONS_STATUSES:
        raise ValueError(f'"{cell}" is not a collections status '
                         f"({', '.join(COLLECTIONS_STATUSES)})")
    return cell.lower()


def parse_email(cell: str) -> str:
    """An email address (its shape only), at most as long as the column."""
    return column_text(contacts_t.c.email)(options.email(cell))


def _digits(part: str) -> bool:
    return part.isascii() and part.isdigit()


def minor(cell: str, currency: str | None) -> int | None:
    """A non-negative amount in integer minor units of *currency*.

    The common form (``1250.00``, ``1250``) is read directly; anything else goes
    through money.parse_amount, so the two agree on what an amount is. Without a
    currency (its own cell was bad), only the form and sign are checked: None.
    """
    if currency is None:
        amount_form(cell)
        return None
    whole, dot, fraction = cell.partition(".")
    if (whole.isdigit() and whole.isascii()
            and (not dot or fraction.isdigit() and fraction.isascii())):
        if len(whole) > money.MAX_DIGITS:
            raise ValueError(f'"{cell}" is too large')
        places = money.decimals(currency)
        if len(fraction) > places:
            if fraction[places:].strip("0"):
                raise ValueError(f'"{cell}" has more decimals than {currency} allows ({places})')
            fraction = fraction[:places]
        value = int(whole + fraction.ljust(places, "0"))
    else:
        amount = money.parse_amount(cell, currency)
        if amount < 0:
            raise ValueError(f'"{cell}" is negative')
        try:
            value = money.to_minor(amount, currency)
        except ArrearsError:
            raise ValueError(f'"{cell}" is too large') from None
    if value >= MAX_MINOR:
        raise ValueError(f'"{cell}" is too large')
    return value


def invoice_amount(cell: str, currency: str | None) -> int | None:
    """:func:`minor`, saying what to do with a ledger's negative lines."""
    try:
        return minor(cell, currency)
    except ValueError as error:
        if str(error).endswith("is negative"):
            raise ValueError(f"{error}: a credit note or unapplied payment is not an "
                             "invoice; leave it out of the file, or net it into the open_amount "
                             "of the invoices it pays") from None
        raise


def amount_form(cell: str) -> str:
    """An amount whose currency is not known yet: checks its form and sign, keeps the text."""
    whole, dot, fraction = cell.partition(".")
    if not (_digits(whole) and (_digits(fraction) if dot else True)):
        if money.parse_amount(cell) < 0:
            raise ValueError(f'"{cell}" is negative')
    return cell


def parse_rate(cell: str) -> Decimal:
    """A positive exchange rate, kept exactly as written."""
    whole, dot, fraction = cell.partition(".")
    if not (_digits(whole) and (_digits(fraction) if dot else True)):
        raise ValueError(f'"{cell}" is not a rate (write 1.0825)')
    value = Decimal(cell)
    if value <= 0:
        raise ValueError(f'"{cell}" is not positive')
    if value.adjusted() >= RATE_DIGITS:
        raise ValueError(f'"{cell}" is too large')
    if value.as_tuple().exponent < -RATE_DECIMALS:  # type: ignore[operator]
        if fraction[RATE_DECIMALS:].strip("0"):
            raise ValueError(f'"{cell}" has more than {RATE_DECIMALS} decimals')
        value = Decimal(f"{whole}.{fraction[:RATE_DECIMALS]}")
    return value


def amount_text(minor_units: int, currency: str) -> str:
    """*minor_units* written with the currency's decimals, for messages."""
    return str(money.from_minor(minor_units, currency))


# --- kinds ----------------------------------------------------------------------------


@attrs.frozen
class Field:
    """One CSV column: its name, whether it is required, and how a cell is read.

    *parse* takes the stripped, non-empty cell (and, with *after*, the value of
    that earlier, required field: an amount's currency) and returns the value or
    raises ValueError with a message for the user. An empty optional cell is None.
    """

    name: str
    parse: Callable[..., Any]
    required: bool = False
    after: str | None = None
    repeats: bool = False
    """Few distinct values (codes, dates, references): each is read once per file."""


@attrs.define
class Changes:
    """What an import writes: rows to insert, rows to update, then further statements."""

    rows: int
    key: tuple[str, ...] = ("id",)
    inserts: list[dict[str, Any]] = attrs.Factory(list)
    updates: list[dict[str, Any]] = attrs.Factory(list)
    after: list[tuple[Any, list[dict[str, Any]]]] = attrs.Factory(list)


Row = tuple[int, dict[str, Any]]
Plan = Callable[[Planning, list[Row]], Changes]


@attrs.frozen
class Spec:
    """A kind of CSV file: its table, fields (required first), file key and plan."""

    kind: str
    table: Table
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    """Fields that may not repeat inside the file (checked while reading); empty: the
    plan checks duplicates itself."""
    plan: Plan

    @property
    def columns(self) -> list[str]:
        return [field.name for field in self.fields]


# --- reading --------------------------------------------------------------------------


def _parse_file(spec: Spec, path: Path, problems: Problems, rejected: list[Row]) -> list[Row]:
    """Every valid data row of *path* as (line, values); problems for the others, which
    go to *rejected* (with None for their bad cells)."""
    records = _records(path, problems)
    header_line, header = next(records, (1, []))
    if header and header[0].strip().lower().startswith("sep=") and len(header) <= 2:
        separator = ",".join(header).strip()[4:] or ","
        if separator != ",":
            raise problems.fatal(header_line, None, _separated_by(separator))
        header_line, header = next(records, (header_line + 1, []))  # Excel's "sep=," line
    if not header:
        raise problems.fatal(1, None, "the file is empty; it needs a header row: "
                             + ",".join(spec.columns))
    if len(header) == 1 and (found := next((s for s in ";\t|" if s in header[0]), None)):
        raise problems.fatal(header_line, None, _separated_by(found))
    positions = _header(spec, header_line, header, problems)
    problems.raise_if_any()
    return _parse_rows(spec, positions, len(header), records, problems, rejected)


def _separated_by(separator: str) -> str:
    shown = "a tab" if separator == "\t" else f'"{separator}"'
    return (f"the columns are separated by {shown}: arrears reads comma-separated files "
            '(in Excel: Save As "CSV UTF-8 (Comma delimited)"; where the decimal mark is a '
            'comma, also write amounts with a dot: 1250.00)')


def _records(path: Path, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of each non-blank record, BOM and CRLF handled."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a folder, not a CSV file") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        reader = csv.reader(handle, skipinitialspace=True)
        line = 1
        last: tuple[int, list[str]] | None = None
        try:
            for cells in reader:
                if any(cell.strip() for cell in cells):  # spreadsheets write ",,,," rows
                    if last is not None:
                        yield last
                    last = line, cells
                    ends = reader.line_num
                line = reader.line_num + 1
        except UnicodeDecodeError:
            raise _not_utf8(path, problems) from None
        except csv.Error as error:
            raise problems.fatal(line, None, f"is not valid CSV ({error})") from None
    if last is not None:
        if ends > last[0] and _unclosed(path, last[0]):
            raise problems.fatal(last[0], None, "a quoted cell that starts on this line is "
                                 'never closed (a " is missing)')
        yield last


def _unclosed(path: Path, line: int) -> bool:
    """Whether the record from *line* to the end of *path* ends inside a quoted cell: the
    csv module then quietly makes the rest of the file one cell. Asked only of a last
    record of several lines, which a multi-line address also makes."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rest = "".join(text for number, text in enumerate(handle, 1) if number >= line)
    try:
        for _ in csv.reader(io.StringIO(rest, newline=""), strict=True):
            pass
    except csv.Error as error:
        return str(error) == "unexpected end of data"
    return False


def _not_utf8(path: Path, problems: Problems) -> BadInput:
    """The error for a file that is not UTF-8, saying what it is when that is clear."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    if start.startswith(b"PK\x03\x04"):
        return problems.fatal(1, None, "is a workbook (.xlsx), not a CSV file: in Excel, "
                              'Save As "CSV UTF-8 (Comma delimited)"')
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return problems.fatal(1, None, 'is UTF-16 text (Excel\'s "Unicode Text"): save the '
                              "file as CSV UTF-8")
    return problems.fatal(_first_bad_line(path), None,
                          "is not UTF-8 text (save the file as CSV UTF-8)")


def _first_bad_line(path: Path) -> int:
    """The number of the first line of *path* that is not valid UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _header(spec: Spec, line: int, header: list[str], problems: Problems) -> dict[str, int]:
    """Field name -> cell index; problems for unknown, repeated and missing columns."""
    known = {field.name for field in spec.fields}
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if not name:  # a spreadsheet's empty column: fine while no row has a value there
            continue
        elif name not in known:
            close = difflib.get_close_matches(re.sub(r"[\s-]+", "_", name), spec.columns, 1)
            problems.add(line, None, f'unknown column "{raw.strip()}" ('
                         + (f"did you mean {close[0]}? " if close else "")
                         + f"{spec.kind} columns: {', '.join(spec.columns)})")
        elif name in positions:
            problems.add(line, None, f'column "{name}" appears twice')
        else:
            positions[name] = index
    for field in spec.fields:
        if field.required and field.name not in positions:
            problems.add(line, None, f'missing required column "{field.name}"')
    return positions


def _parse_rows(spec: Spec, positions: dict[str, int], width: int,
                records: Iterable[tuple[int, list[str]]], problems: Problems,
                rejected: list[Row]) -> list[Row]:
    """Read every record's cells with the spec's fields; only clean rows are returned.

    This loop runs once per row of files with millions of rows: it stays flat.
    """
    plan = [(positions[f.name], f.name, f.parse, f.required, f.after,
             {} if f.repeats else None) for f in spec.fields if f.name in positions]
    key_of = operator.itemgetter(*spec.key) if spec.key else None
    unnamed = [i for i in range(width) if i not in positions.values()]
    seen: dict[Any, int] = {}
    rows: list[Row] = []
    for line, cells in records:
        if len(cells) != width:
            problems.add(line, None, f"has {len(cells)} cells, the header has {width}")
            continue
        values: dict[str, Any] = {}
        good = True
        for index in unnamed:
            if cells[index].strip():
                problems.add(line, None, f"column {index + 1} has a value, and no name in "
                             "the header")
                good = False
        for index, name, parse, required, after, memo in plan:
            cell = cells[index].strip()
            if not cell:
                if required:
                    problems.add(line, name, "is empty (required)")
                    good = False
                values[name] = None
                continue
            if memo is not None:
                value = memo.get(cell)
                if value is not None:
                    values[name] = value
                    continue
            try:
                value = parse(cell) if after is None else parse(cell, values[after])
            except ValueError as error:
                problems.add(line, name, str(error))
                values[name] = None
                good = False
                continue
            if memo is not None and len(memo) < MEMO_LIMIT:
                memo[cell] = value
            values[name] = value
        if good and key_of is not None:
            first = seen.setdefault(key_of(values), line)
            if first != line:
                _duplicate(problems, spec.key, values, line, first)
                good = False
        (rows if good else rejected).append((line, values))
    return rows


def _duplicate(problems: Problems, key: tuple[str, ...], values: dict[str, Any], line: int,
               first: int) -> None:
    """Report that the row at *line* repeats the key of the row at *first*."""
    shown = ", ".join(f'"{values[name]}"' for name in key)
    problems.add(line, ",".join(key), f"duplicate {shown} (also on line {first})")


# --- looking up -----------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _select_where_in(connection: Connection, columns: Sequence[Any], column: Any,
                     keys: Iterable[Any]) -> list[Any]:
    """Rows of *columns* whose *column* is one of *keys*: by chunks of ``IN``, or the
    whole table in one query when there are many keys (the caller filters)."""
    keys = list(set(keys))
    if not keys:
        return []
    if len(keys) > FULL_LOAD:
        return list(connection.execute(select(*columns)).all())
    found: list[Any] = []
    for chunk in _chunks(keys, LOOKUP_CHUNK):
        found.extend(connection.execute(select(*columns).where(column.in_(chunk))).all())
    return found


def _by_key(connection: Connection, key: Any, columns: Sequence[Any],
            wanted: set[Any]) -> dict[Any, Any]:
    """Existing rows (*key*, *columns*…) whose key is in *wanted*, by key.

    For :func:`_upsert`, *columns* are ``id`` and then the columns an import sets.
    """
    rows = _select_where_in(connection, [key, *columns], key, wanted)
    return {row[0]: row for row in rows if row[0] in wanted}


def _lookup(ctx: Planning, rows: list[Row], field: str, key: Any,
            columns: Sequence[Any]) -> dict[Any, Any]:
    """The existing rows (by *key*) that the rows' *field* names (a customer, an invoice).

    Unknown references of rejected rows are reported here; the plan reports those
    of the good rows (with :func:`_unknown`) as it meets them.
    """
    wanted = {values[field] for _, values in rows}
    wanted.update(values[field] for _, values in ctx.rejected if values.get(field) is not None)
    found = _by_key(ctx.connection, key, columns, wanted)
    for line, values in ctx.rejected:
        if values.get(field) is not None and values[field] not in found:
            _unknown(ctx.problems, line, field, values[field])
    return found


def _unknown(problems: Problems, line: int, field: str, value: str) -> None:
    """Report a reference to a customer or invoice that does not exist."""
    problems.add(line, field, f'no {field} "{value}"')


def _present(rows: list[Row], names: Iterable[str]) -> list[str]:
    """The optional fields whose column the file has."""
    return [name for name in names if rows and name in rows[0][1]]


# --- plans, one per kind -------------------------------------------------------------

CUSTOMER_OPTIONAL = ("customer_group", "country", "language", "sales_group",
                     "collections_agent", "letter_sequence", "address")
ADDRESS_LIMIT, ADDRESS_LINES = 500, 10
"""A postal address: what a letter's window shows, not a document of its own."""


def _plan_customers(ctx: Planning, rows: list[Row]) -> Changes:
    """Upsert by account; optional columns the file has are set (empty: cleared)."""
    c = customers_t.c
    optional = _present(rows, CUSTOMER_OPTIONAL)
    limit = _present(rows, ("credit_limit",))
    targets = ["name", "currency", *optional, "credit_limit_minor"]
    existing = _by_key(ctx.connection, c.account, [c.id, *(c[t] for t in targets)],
                       {values["account"] for _, values in rows})
    changes = Changes(len(rows))
    for line, values in rows:
        record = {name: values[name] for name in ("name", "currency", *optional)}
        old = existing.get(values["account"])
        if limit:
            record["credit_limit_minor"] = values["credit_limit"]
        elif old is not None:
            if old.credit_limit_minor is not None and old.currency != values["currency"]:
                ctx.problems.add(line, "currency", (
                    f"changes from {old.currency} to {values['currency']}, and the credit "
                    f"limit ({amount_text(old.credit_limit_minor, old.currency)} "
                    f"{old.currency}) is kept in {old.currency}: give credit_limit in "
                    f"{values['currency']} in this file (empty to clear it)"))
                continue
            old = old[:-1]  # the limit stays as it is: not compared
        _upsert(changes, old, record, account=values["account"])
    return changes


def _upsert(changes: Changes, old: Any, record: dict[str, Any], **key: Any) -> None:
    """Queue *record* as an insert (no *old* row) or as an update of *old* if it differs.

    *old* is a row from :func:`_by_key`: (key, id, then the record's columns in order).
    """
    if old is None:
        record.update(key)
        changes.inserts.append(record)
    elif old[2:] != tuple(record.values()):
        record["b_id"] = old[1]
        changes.updates.append(record)


def _plan_contacts(ctx: Planning, rows: list[Row]) -> Changes:
    """Upsert by (customer, email, purpose); new contacts go after all existing ones."""
    c = contacts_t.c
    customers = _lookup(ctx, rows, "customer", customers_t.c.account, [customers_t.c.id])
    optional = _present(rows, ("name", "phone"))
    existing = {(r.customer_id, r.email, r.purpose): r for r in _select_where_in(
        ctx.connection, [c.id, c.customer_id, c.email, c.purpose, *(c[n] for n in optional)],
        c.customer_id, [customer.id for customer in customers.values()])}
    position = ctx.connection.execute(select(func.max(c.position))).scalar() or 0
    changes = Changes(len(rows))
    for line, values in rows:
        customer = customers.get(values["customer"])
        if customer is None:
            _unknown(ctx.problems, line, "customer", values["customer"])
            continue
        customer_id = customer.id
        key = (customer_id, values["email"], values["purpose"])
        record = {name: values[name] for name in optional}
        old = existing.get(key)
        if old is None:
            position += 1
            record.update(customer_id=customer_id, email=key[1], purpose=key[2],
                          position=position)
            changes.inserts.append(record)
        elif old[4:] != tuple(record.values()):
            record["b_id"] = old.id
            changes.updates.append(record)
    return changes


def _plan_invoices(ctx: Planning, rows: list[Row]) -> Changes:
    """Upsert by number, working out each invoice's open amount and status."""
    c = invoices_t.c
    customers = _lookup(ctx, rows, "customer", customers_t.c.account, [customers_t.c.id])
    existing = _by_key(ctx.connection, c.number, [c.id, *(c[n] for n in INVOICE_COLUMNS)],
                       {values["number"] for _, values in rows})
    paid = _paid(ctx.connection, [row.id for row in existing.values()])
    changes = Changes(len(rows))
    statuses: list[dict[str, Any]] = []
    today = setupfile.today(ctx.connection)
    for line, values in rows:
        customer = customers.get(values["customer"])
        if customer is None:
            _unknown(ctx.problems, line, "customer", values["customer"])
            continue
        old = existing.get(values["number"])
        record = _invoice_record(ctx.problems, line, values, customer.id, old,
                                 paid.get(old.id, 0) if old is not None else 0)
        if record is None:
            continue
        _upsert(changes, old, record, number=values["number"])
        if old is not None and record["status"] != old.status:
            statuses.append(_status_history(old, record, today))
    if statuses:
        changes.after.append((db.insert_statement(history_t, statuses[0]), statuses))
    return changes


def _paid(connection: Connection, invoice_ids: list[int]) -> dict[int, int]:
    """Sum of recorded payments (minor units) by invoice id, for *invoice_ids*."""
    p = payments_t.c
    if not invoice_ids:
        return {}
    if len(invoice_ids) > FULL_LOAD:
        query = select(p.invoice_id, func.sum(p.amount_minor)).group_by(p.invoice_id)
        return {row[0]: int(row[1]) for row in connection.execute(query)}
    sums: dict[int, int] = {}
    for chunk in _chunks(invoice_ids, LOOKUP_CHUNK):
        query = (select(p.invoice_id, func.sum(p.amount_minor))
                 .where(p.invoice_id.in_(chunk)).group_by(p.invoice_id))
        sums.update((row[0], int(row[1])) for row in connection.execute(query))
    return sums


INVOICE_COLUMNS = ("customer_id", "invoice_date", "due_date", "currency", "amount_minor",
                   "open_minor", "status", "promised_date")


def _invoice_record(problems: Problems, line: int, values: dict[str, Any], customer_id: int,
                    old: Any, paid: int) -> dict[str, Any] | None:
    """The invoice's INVOICE_COLUMNS for one row, or None after reporting why it cannot be."""
    amount, currency = values["amount"], values["currency"]
    if values["due_date"] < values["invoice_date"]:
        problems.add(line, "due_date", f"{values['due_date'].isoformat()} is before the "
                     f"invoice date {values['invoice_date'].isoformat()}: are the two "
                     "columns swapped?")
        return None
    if old is not None and paid and currency != old.currency:
        problems.add(line, "currency", f"invoice {values['number']} has payments in "
                     f"{old.currency}; its currency cannot change to {currency}")
        return None
    open_minor = values.get("open_amount")
    if open_minor is None:
        open_minor = amount - paid
        if open_minor < 0:
            problems.add(line, "amount", f"{amount_text(amount, currency)} is less than the "
                         f"{amount_text(paid, currency)} already paid on invoice "
                         f"{values['number']}")
            return None
    elif open_minor > amount:
        problems.add(line, "open_amount", f"{amount_text(open_minor, currency)} is more than "
                     f"the amount {amount_text(amount, currency)}")
        return None
    status_promised = _invoice_status(problems, line, values, old)
    if status_promised is None:
        return None
    status, promised = status_promised
    return {"customer_id": customer_id,
            "invoice_date": values["invoice_date"], "due_date": values["due_date"],
            "currency": currency, "amount_minor": amount, "open_minor": open_minor,
            "status": status, "promised_date": promised}


def _invoice_status(problems: Problems, line: int, values: dict[str, Any],
                    old: Any) -> tuple[str, date | None] | None:
    """(status, promised date) for one row: an empty status keeps the invoice's own
    (``none`` for a new one); only ``promised`` has, and needs, a promised date."""
    status, promised = values.get("status"), values.get("promised_date")
    if status is None and promised is None and old is not None:
        return old.status, old.promised_date  # the row says neither: both stay as they are
    if status is None:
        status = old.status if old is not None else "none"
    if status == "promised" and old is not None and old.status == "broken" and \
            promised == old.promised_date:  # an extract still telling of a promise broken since
        return old.status, old.promised_date
    if status == "promised" and promised is None:
        problems.add(line, "promised_date", "status promised needs the promised payment "
                     "date (YYYY-MM-DD)")
        return None
    if status != "promised" and promised is not None:
        problems.add(line, "promised_date", f"only status promised takes a date, "
                     f"the invoice's status is {status}")
        return None
    return status, promised


def _status_history(old: Any, record: dict[str, Any], today: date) -> dict[str, Any]:
    """The history entry for a collections status changed by an import."""
    promised = record["promised_date"]
    reason = (f"collections status {old.status} -> {record['status']}"
              + (f" (promised {promised.isoformat()})" if promised else "") + ", set by import")
    return {"run_id": None, "date": today, "hierarchy": None,
            "customer_id": record["customer_id"], "invoice_id": old.id, "step": None,
            "kind": "status", "action": None, "reason": reason}


def _plan_payments(ctx: Planning, rows: list[Row]) -> Changes:
    """Insert the payments not yet recorded and lower their invoices' open amounts."""
    c = invoices_t.c
    invoices = _lookup(ctx, rows, "invoice", c.number, [c.id, c.currency, c.open_minor])
    p = payments_t.c
    recorded = {tuple(r) for r in _select_where_in(
        ctx.connection, [p.invoice_id, p.date, p.amount_minor, p.reference], p.invoice_id,
        {invoice.id for invoice in invoices.values()})}
    changes = Changes(len(rows))
    seen: dict[tuple[Any, ...], int] = {}
    new_paid: dict[str, int] = {}
    for line, values in rows:
        invoice = invoices.get(values["invoice"])
        if invoice is None:
            _unknown(ctx.problems, line, "invoice", values["invoice"])
            continue
        payment = _payment(ctx.problems, line, values, invoice, seen)
        if payment is None or tuple(payment.values()) in recorded:
            continue
        total = new_paid.get(values["invoice"], 0) + payment["amount_minor"]
        if new_paid.get(values["invoice"], 0) <= invoice.open_minor < total:
            ctx.problems.add(line, "amount", f"payments to invoice {values['invoice']} "
                             f"({amount_text(total, invoice.currency)} in this file) exceed "
                             f"its open amount {amount_text(invoice.open_minor, invoice.currency)}")
        new_paid[values["invoice"]] = total
        changes.inserts.append(payment)
    changes.after.append((
        invoices_t.update().where(c.id == bindparam("b_id"))
        .values(open_minor=c.open_minor - bindparam("b_paid")),
        [{"b_paid": paid, "b_id": invoices[number].id} for number, paid in new_paid.items()]))
    return changes


def _payment(problems: Problems, line: int, values: dict[str, Any], invoice: Any,
             seen: dict[tuple[Any, ...], int]) -> dict[str, Any] | None:
    """The payment row (its key, in the table's unique order), or None with a problem."""
    try:
        amount = minor(values["amount"], invoice.currency)
    except ValueError as error:
        problems.add(line, "amount", str(error))
        return None
    if amount == 0:
        problems.add(line, "amount", f'"{values["amount"]}" is not more than zero')
        return None
    payment = {"invoice_id": invoice.id, "date": values["date"], "amount_minor": amount,
               "reference": values.get("reference") or ""}
    first = seen.setdefault(tuple(payment.values()), line)
    if first != line:
        problems.add(line, "invoice,date,amount,reference", f'duplicate "{values["invoice"]}", '
                     f'"{values["date"]}", "{values["amount"]}", "{payment["reference"]}" '
                     f"(also on line {first}; give distinct payments distinct references)")
        return None
    return payment


def _plan_rates(ctx: Planning, rows: list[Row]) -> Changes:
    """Upsert by (currency, date)."""
    r = rates_t.c
    existing = {(row.currency, row.date): row.rate for row in _select_where_in(
        ctx.connection, [r.currency, r.date, r.rate], r.currency,
        {values["currency"] for _, values in rows})}
    changes = Changes(len(rows), key=("currency", "date"))
    for _, values in rows:
        old = existing.get((values["currency"], values["date"]))
        if old is None:
            changes.inserts.append(dict(values))
        elif old != values["rate"]:
            changes.updates.append({"rate": values["rate"], "b_currency": values["currency"],
                                    "b_date": values["date"]})
    return changes


SPECS: dict[str, Spec] = {
    "customers": Spec("customers", customers_t, (
        Field("account", column_text(customers_t.c.account), required=True),
        Field("name", column_text(customers_t.c.name), required=True),
        Field("currency", parse_currency, required=True, repeats=True),
        *(Field(name, column_text(customers_t.c[name]), repeats=True)
          for name in CUSTOMER_OPTIONAL if name != "address"),
        Field("address", text(ADDRESS_LIMIT, lines=ADDRESS_LINES)),
        Field("credit_limit", minor, after="currency"),
    ), ("account",), _plan_customers),
    "contacts": Spec("contacts", contacts_t, (
        Field("customer", column_text(customers_t.c.account), required=True, repeats=True),
        Field("email", parse_email, required=True),
        Field("purpose", column_text(contacts_t.c.purpose), required=True, repeats=True),
        Field("name", column_text(contacts_t.c.name)),
        Field("phone", column_text(contacts_t.c.phone)),
    ), ("customer", "email", "purpose"), _plan_contacts),
    "invoices": Spec("invoices", invoices_t, (
        Field("number", column_text(invoices_t.c.number), required=True),
        Field("customer", column_text(customers_t.c.account), required=True, repeats=True),
        Field("invoice_date", parse_date, required=True, repeats=True),
        Field("due_date", parse_date, required=True, repeats=True),
        Field("currency", parse_currency, required=True, repeats=True),
        Field("amount", invoice_amount, required=True, after="currency"),
        Field("open_amount", invoice_amount, after="currency"),
        Field("status", parse_status, repeats=True),
        Field("promised_date", parse_date, repeats=True),
    ), ("number",), _plan_invoices),
    "payments": Spec("payments", payments_t, (
        Field("invoice", column_text(invoices_t.c.number), required=True, repeats=True),
        Field("date", parse_date, required=True, repeats=True),
        Field("amount", amount_form, required=True),
        Field("reference", column_text(payments_t.c.reference)),
    ), (), _plan_payments),
    "rates": Spec("rates", rates_t, (
        Field("currency", parse_currency, required=True, repeats=True),
        Field("date", parse_date, required=True, repeats=True),
        Field("rate", parse_rate, required=True),
    ), ("currency", "date"), _plan_rates),
}


# --- writing --------------------------------------------------------------------------


def _write(connection: Connection, table: Table, changes: Changes) -> None:
    """Insert, update, then run the follow-up statements, each as one executemany."""
    if changes.inserts:
        db.insert_rows(connection, table, changes.inserts, fast=FAST_WRITES)
    if changes.updates:
        names = [name for name in changes.updates[0] if not name.startswith("b_")]
        where = and_(*(table.c[name] == bindparam(f"b_{name}") for name in changes.key))
        db.executemany(connection, table.update().where(where)
                       .values({n: bindparam(n) for n in names}), changes.updates,
                       fast=FAST_WRITES)
    for statement, records in changes.after:
        db.executemany(connection, statement, records, fast=FAST_WRITES)


class _gc_paused:
    """Pause the cyclic garbage collector while millions of small containers are made
    (it would walk them again and again); the import creates no reference cycles."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *_: object) -> None:
        if self.was_enabled:
            gc.enable()
