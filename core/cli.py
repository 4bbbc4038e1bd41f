"""The ``arrears`` command line (spec/CLI.md). Each command parses its options,
calls one kernel function, and prints the result; no decisions are made here.

A plugin's commands (``register_commands``) may use, and only these are kept stable
for them: :func:`pass_runtime` and the :class:`Runtime` it passes (``pm``,
``database()``, ``setup(connection)``), :func:`as_of_option`, :func:`as_of_date`,
:data:`DAY`, :func:`format_option`, :func:`emit` and :func:`progress`
(docs/writing_plugins.md, "Commands of your own").
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import click
from sqlalchemy.exc import SQLAlchemyError

from arrears.core import (
    assignment,
    clock,
    documents,
    imports,
    invoices,
    output,
    records,
    setupfile,
    trail,
)
from arrears.core import run as run_
from arrears.core.db import DEFAULT_URL, SQLITE_HINTS, Database, hide_password, refuses_url
from arrears.core.domain import COLLECTIONS_STATUSES, Setup
from arrears.core.errors import ArrearsError, BadInput
from arrears.core.plugins import (
    PluginManager,
    Registry,
    add_commands,
    get_plugin_manager,
    list_plugins,
    plugin_label,
    third_party_culprit,
)


@attrs.define
class Runtime:
    """What every command needs: the plugin manager and the database."""

    pm: PluginManager
    db_url: str = DEFAULT_URL
    _db: Database | None = None
    _registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry.collect(self.pm)
        return self._registry

    def database(self, *, current: bool = True) -> Database:
        """The database; with *current*, refuse one whose schema is missing or behind."""
        if self._db is None:
            self._db = Database(self.db_url)
        if current:
            self._db.require_current()
        return self._db

    def setup(self, connection: Any) -> Setup:
        setup = setupfile.stored(connection, self.registry)
        if setup is None:
            raise BadInput("no setup loaded yet: load one with `arrears setup load FILE`")
        return setup

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


class Day(click.ParamType):
    """An option's date, written ``YYYY-MM-DD`` exactly, as in the CSV files (click's
    ``DateTime`` also took ``2025-1-6``); a ``datetime`` at midnight."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            day = imports.parse_date(str(value).strip())
        except ValueError as error:
            self.fail(str(error), param, ctx)
        return datetime(day.year, day.month, day.day)


DAY = Day()


def as_of_date(setup_: Setup, as_of: datetime | None, *, acting: bool = False) -> date:
    """The day a command decides for: *as_of*, or today in the setup's timezone. A
    command *acting* (posting, sending, purging history) takes no day after today: a
    mistyped year would act early, purge the history kept, and refuse every real day
    after it as earlier than the last run."""
    today = clock.today(setup_.parameters.timezone)
    if as_of is None:
        return today
    if acting and as_of.date() > today:
        raise BadInput(f"--as-of: {as_of.date().isoformat()} is after today ({today} in "
                       f"{setup_.parameters.timezone}): this command acts for today or a day "
                       "gone by; `arrears simulate --as-of` shows what a day to come would "
                       "bring")
    return as_of.date()


class ArrearsGroup(click.Group):
    """Turns arrears' own errors into click's, so no traceback reaches the user."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArrearsError as error:
            raise _failure(str(error), error.exit_code) from None
        except SQLAlchemyError as error:
            runtime = ctx.find_object(Runtime)
            where = runtime.database(current=False).display_url if runtime else "the database"
            detail = hide_password(str(getattr(error, "orig", None) or error).splitlines()[0])
            detail += next((hint for start, hint in SQLITE_HINTS.items()
                            if detail.startswith(start)), "")
            if refuses_url(error):
                raise _failure(f"--db: {where}: {detail}", BadInput.exit_code) from None
            raise _failure(f"database error on {where}: {detail}", ArrearsError.exit_code) \
                from None


def _failure(message: str, exit_code: int) -> click.ClickException:
    exception = click.ClickException(message)
    exception.exit_code = exit_code
    return exception


def format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="Output format; json goes to stdout alone.")


def as_of_option(function: Callable[..., Any] | None = None, *,
                 meaning: str = "The date to decide for") -> Any:
    """The ``--as-of`` option: ``@as_of_option``, or ``@as_of_option(meaning="The date to
    predict on")``; :func:`as_of_date` gives the day it means."""
    option = click.option("--as-of", type=DAY, default=None,
                          help=f"{meaning} (YYYY-MM-DD); default today in the setup's timezone.")
    return option if function is None else option(function)


def workers_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--workers", type=click.IntRange(1, 64), default=run_.default_workers,
                        show_default="one per CPU, up to 4",
                        help="Processes that decide batches of customers side by side; 1 "
                             "decides them all in this one.")(function)


def emit(result: Any, fmt: str, human: Callable[[Any], str]) -> None:
    """Print *result* as JSON (``--format json``) or as text for a person."""
    click.echo(output.to_json(result) if fmt == "json" else human(result))


def pass_runtime(function: Callable[..., Any]) -> Callable[..., Any]:
    @click.pass_obj
    @functools.wraps(function)
    def wrapper(runtime: Runtime, *args: Any, **kwargs: Any) -> Any:
        return function(runtime, *args, **kwargs)

    return wrapper


@click.group(cls=ArrearsGroup)
@click.option("--db", "db_url", envvar="ARREARS_DB", default=DEFAULT_URL, show_default=True,
              help="Database URL (sqlite:///FILE or postgresql://…); also $ARREARS_DB.")
@click.version_option(package_name="arrears")
@click.pass_context
def cli(ctx: click.Context, db_url: str) -> None:
    """arrears: collections process automation."""
    if ctx.obj is None:
        ctx.obj = Runtime(get_plugin_manager())
    ctx.obj.db_url = db_url
    ctx.call_on_close(ctx.obj.close)


# --- init, setup ---------------------------------------------------------------------


@cli.command()
@click.option("--demo", is_flag=True,
              help="Also load a sample setup and book, dated around today: into a new "
                   "database, or one a demo was loaded into before (a database with a "
                   "setup or customers of its own is refused).")
@pass_runtime
def init(runtime: Runtime, demo: bool) -> None:
    """Create the schema, or migrate it to this version."""
    db = runtime.database(current=False)
    if demo:
        from arrears.core import demo as demo_data

        demo_data.refuse_a_book(db)
    before, after = db.upgrade()
    if before == after:
        click.echo(f"{db.display_url}: schema is up to date ({after})", err=True)
    else:
        click.echo(f"{db.display_url}: schema {before or 'created'} -> {after}", err=True)
    if demo:
        summary = demo_data.load(db, runtime.registry)
        click.echo(f"demo: {summary}", err=True)


@cli.group()
def setup() -> None:
    """Load, check and show the collections setup."""


@setup.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@pass_runtime
def setup_check(runtime: Runtime, file: Path) -> None:
    """Validate FILE only."""
    parsed = setupfile.read(file, runtime.registry)
    click.echo(f"{file}: valid ({len(parsed.hierarchies)} hierarchies, "
               f"{len(parsed.pools)} pools)", err=True)


@setup.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@pass_runtime
def setup_load(runtime: Runtime, file: Path) -> None:
    """Validate FILE and store it, replacing the previous setup."""
    db = runtime.database()
    parsed = setupfile.read(file, runtime.registry)
    with db.begin() as connection:
        setupfile.save(connection, parsed, runtime.registry, str(file))
    click.echo(f"{file}: loaded ({len(parsed.hierarchies)} hierarchies, "
               f"{len(parsed.pools)} pools)", err=True)


@setup.command("show")
@format_option("toml", "json")
@pass_runtime
def setup_show(runtime: Runtime, fmt: str) -> None:
    """Print the stored setup."""
    import json

    import tomli_w

    with runtime.database().read() as connection:
        document = setupfile.to_document(runtime.setup(connection), runtime.registry)
    if fmt == "json":
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(tomli_w.dumps(document, multiline_strings=True), nl=False)


# --- data ----------------------------------------------------------------------------


@cli.command("import")
@click.argument("kind", type=click.Choice(imports.KINDS), metavar="KIND")
@click.argument("file", type=click.Path(path_type=Path))
@format_option("text", "json")
@pass_runtime
def import_(runtime: Runtime, kind: str, file: Path, fmt: str) -> None:
    """Import a CSV file of KIND: all rows or none; waits for a run in progress."""
    db = runtime.database()
    # A run reads its batches one transaction at a time: an import between two would be
    # half seen, the early batches acting on invoices the file has since paid.
    with db.run_lock(waiting=waiting_for_a_run):
        with db.begin() as connection:
            summary = imports.import_file(connection, kind, file)
    emit(summary, fmt, lambda s: f"{file}: {s.inserted} added, {s.updated} updated ({kind})")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.group()
def invoice() -> None:
    """Work with one invoice."""


@invoice.command("status")
@click.argument("number")
@click.argument("status", type=click.Choice(COLLECTIONS_STATUSES), metavar="STATUS")
@click.option("--date", "promised", type=DAY, default=None,
              help="The promised payment date (with STATUS promised).")
@format_option("text", "json")
@pass_runtime
def invoice_status(runtime: Runtime, number: str, status: str, promised: datetime | None,
                   fmt: str) -> None:
    """Set an invoice's collections status."""
    with runtime.database().begin() as connection:
        change = invoices.set_status(connection, number, status,
                                     promised.date() if promised else None,
                                     setupfile.today(connection))
    emit(change, fmt, lambda c: f"invoice {c.invoice}: {c.previous} -> {c.status}"
         + (f" (promised {c.promised_date})" if c.promised_date else ""))


# --- assignment ------------------------------------------------------------------------


@cli.command()
@click.argument("customer")
@click.argument("hierarchy")
@pass_runtime
def assign(runtime: Runtime, customer: str, hierarchy: str) -> None:
    """Assign CUSTOMER to HIERARCHY by hand; it beats every pool."""
    with runtime.database().begin() as connection:
        assignment.assign(connection, runtime.setup(connection), customer, hierarchy)
    click.echo(f"customer {customer}: assigned to {hierarchy}", err=True)


@cli.command()
@click.argument("customer")
@pass_runtime
def unassign(runtime: Runtime, customer: str) -> None:
    """Remove CUSTOMER's manual assignment."""
    with runtime.database().begin() as connection:
        removed = assignment.unassign(connection, customer)
    click.echo(f"customer {customer}: "
               + ("manual assignment removed" if removed else "had no manual assignment"),
               err=True)


@cli.command()
@format_option("text", "json")
@pass_runtime
def assignments(runtime: Runtime, fmt: str) -> None:
    """The manual assignments: which customers are assigned by hand, to what."""
    with runtime.database().read() as connection:
        found = assignment.list_manual(connection, runtime.setup(connection))
    emit({"assignments": found}, fmt, lambda _: output.table(
        [(a.customer, a.hierarchy + ("" if a.in_setup else " (not in the setup)"),
          a.assigned.isoformat(" ", "seconds")) for a in found],
        ["customer", "hierarchy", "assigned"]) if found else "no manual assignments")


@cli.group()
def preview() -> None:
    """Which hierarchy customers get, and why (read-only)."""


@preview.command("customer")
@click.argument("customer")
@as_of_option
@format_option("text", "json")
@pass_runtime
def preview_customer(runtime: Runtime, customer: str, as_of: datetime | None, fmt: str) -> None:
    """The hierarchy CUSTOMER gets and why: manual, pool:<ID> or none."""
    with runtime.database().read() as connection:
        setup_ = runtime.setup(connection)
        answer = assignment.preview_customer(runtime.pm, setup_, connection, customer,
                                             as_of_date(setup_, as_of))
    emit(answer, fmt, lambda a: f"{a.customer}: {a.hierarchy or '(none)'} ({a.reason})")


@preview.command("hierarchy")
@click.argument("hierarchy")
@as_of_option
@format_option("text", "json")
@pass_runtime
def preview_hierarchy(runtime: Runtime, hierarchy: str, as_of: datetime | None,
                      fmt: str) -> None:
    """The customers HIERARCHY gets."""
    with runtime.database().read() as connection:
        setup_ = runtime.setup(connection)
        answers = list(assignment.preview_hierarchy(runtime.pm, setup_, connection, hierarchy,
                                                    as_of_date(setup_, as_of)))
    customers = [a for a in answers if not isinstance(a, str)]
    for failure in (a for a in answers if isinstance(a, str)):
        click.echo(f"warning: {failure}", err=True)
    result = {"hierarchy": hierarchy, "customers": [a.customer for a in customers],
              "reasons": {a.customer: a.reason for a in customers}}
    emit(result, fmt, lambda r: output.table(
        [(a.customer, a.reason) for a in customers], ["customer", "reason"]))


# --- the daily run -------------------------------------------------------------------------


def _actions_table(actions: Iterable[Any]) -> Iterator[str]:
    return output.table_lines(
        lambda: ((a.customer, a.hierarchy, a.step, a.action, a.invoice, a.document,
                  a.recipient) for a in actions),
        ["customer", "hierarchy", "step", "action", "invoice", "document", "recipient"])


def _run_text(result: run_.RunResult) -> Iterator[str]:
    shard = f" (shard {result.shard}, day {result.day})" if result.shard else ""
    yield (f"run {result.run}{shard}, {result.date}: {result.status}, "
           f"{len(result.actions)} actions, "
           f"{len(result.skipped)} not possible, {len(result.errors)} customers failed")
    if result.actions:
        yield from _actions_table(result.actions)
    for note in result.skipped:
        yield _not_possible(note)
    for note in result.errors:
        yield f"failed: {note.customer}: {note.reason}"


def _not_possible(note: run_.Note) -> str:
    invoice = f" ({note.invoice})" if note.invoice else ""
    return f"not possible: {note.customer} {note.step}{invoice}: {note.reason}"


def emit_streamed(document: dict[str, Any], fmt: str, lines: Iterable[str]) -> None:
    """:func:`emit` for results too large to hold twice (a run's actions): the JSON
    document, or the text *lines*, written a piece at a time."""
    pieces: list[str] = []
    size = 0

    def write(text: str) -> None:  # 64 KiB per echo: one per piece was 4 % of a large run
        nonlocal size
        pieces.append(text)
        size += len(text)
        if size >= 1 << 16:
            click.echo("".join(pieces), nl=False)
            pieces.clear()
            size = 0

    if fmt == "json":
        output.write_json(document, write)
    else:
        for line in lines:
            write(line + "\n")
    click.echo("".join(pieces), nl=False)


def no_wait_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--no-wait", is_flag=True,
                        help="Refuse at once if another run holds the lock.")(function)


def waiting_for_a_run() -> None:
    click.echo("waiting for another arrears run to finish…", err=True)


@cli.command()
@as_of_option
@no_wait_option
@click.option("--shard", "shard_text", default=None, metavar="K/N",
              help="Run shard K of N: the customers whose id is K-1 modulo N. N processes "
                   "(or machines) with --shard 1/N … N/N share the day's run, which counts "
                   "as done when all N succeeded (docs/postgresql.md).")
@workers_option
@format_option("text", "json")
@pass_runtime
def run(runtime: Runtime, as_of: datetime | None, no_wait: bool, shard_text: str | None,
        workers: int, fmt: str) -> None:
    """The daily run: decide and act for every customer, once per day."""
    shard = run_.Shard.parse(shard_text) if shard_text is not None else None
    db = runtime.database()
    with db.read() as connection:
        setup_ = runtime.setup(connection)
        total = run_.count_customers(connection, run_.run_customers(shard))
        day = as_of_date(setup_, as_of, acting=True)
        for warning in run_.calendar_warnings(connection, day):
            click.echo(f"warning: {warning}", err=True)
    warn_before_run(runtime, setup_)
    with progress(total, "customers") as advance:
        result = run_.daily_run(
            db, runtime.pm, setup_, day, wait=not no_wait, progress=advance, shard=shard,
            workers=workers,
            waiting=waiting_for_a_run)
    if result.status == "already-ran":
        what = f"shard {result.shard} of the run" if result.day == "incomplete" else "the run"
        click.echo(f"{what} for {day} already succeeded (run {result.run}): nothing to do",
                   err=True)
    if shard is not None and result.status != "already-ran":
        click.echo(f"shard {shard} of the run for {day}: {result.status}; the day's run is "
                   + ("complete: every shard succeeded" if result.day == "success" else
                      "not complete until every shard has succeeded"), err=True)
    emit_streamed(_run_document(result), fmt, _run_text(result))
    result.actions.close()
    if result.stopped is not None:
        click.echo(f"Error: {result.stopped}", err=True)
    if result.status in ("errors", "interrupted"):
        sys.exit(1)


def _run_document(result: run_.RunResult) -> dict[str, Any]:
    """``run --format json``: the keys ``shard`` and ``day`` only for a shard."""
    document = {"run": result.run, "date": result.date, "status": result.status,
                "actions": result.actions.encoded(), "skipped": result.skipped,
                "errors": result.errors}
    if result.shard is not None:
        document.update(shard=result.shard, day=result.day)
    if result.stopped is not None:
        document["stopped"] = result.stopped
    return document


@contextlib.contextmanager
def progress(total: int, what: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty() or total == 0:
        yield None
        return
    with click.progressbar(length=total, label=what, file=sys.stderr) as bar:
        yield bar.update


@cli.command()
@click.option("--hierarchy", default=None, help="Only this hierarchy's customers.")
@as_of_option
@workers_option
@format_option("text", "json")
@pass_runtime
def simulate(runtime: Runtime, hierarchy: str | None, as_of: datetime | None, workers: int,
             fmt: str) -> None:
    """The actions a run would create; writes nothing."""
    db = runtime.database()
    with db.read() as connection:
        setup_ = runtime.setup(connection)
    day = as_of_date(setup_, as_of)
    warn_before_run(runtime, setup_)
    result = run_.simulate(db, runtime.pm, setup_, day, hierarchy=hierarchy, workers=workers)
    for note in result.skipped:
        click.echo(_not_possible(note), err=True)
    for note in result.errors:
        click.echo(f"would fail: {note.customer}: {note.reason}", err=True)
    emit_streamed({"date": result.date, "actions": result.actions.encoded(),
                   "skipped": result.skipped,
                   "errors": result.errors}, fmt, _actions_table(result.actions))
    result.actions.close()


@cli.command()
@click.argument("customer")
@as_of_option
@format_option("text", "json")
@pass_runtime
def explain(runtime: Runtime, customer: str, as_of: datetime | None, fmt: str) -> None:
    """Why CUSTOMER gets what it gets today: the whole decision trail."""
    db = runtime.database()
    with db.read() as connection:
        setup_ = runtime.setup(connection)
    day = as_of_date(setup_, as_of)
    warn_before_run(runtime, setup_)
    decision = run_.explain(db, runtime.pm, setup_, customer, day)
    emit(trail.trail(decision, setup_), fmt, trail.as_text)


def warn_before_run(runtime: Runtime, setup_: Setup) -> None:
    """Print what the plugins say an operator should know before deciding."""
    for warning in run_.warnings(runtime.database(), runtime.pm, setup_):
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@click.option("--hierarchy", default=None, help="Only this hierarchy's entries.")
@click.option("--customer", default=None, help="Only this customer's entries.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@format_option("text", "json")
@pass_runtime
def history(runtime: Runtime, hierarchy: str | None, customer: str | None, limit: int | None,
            fmt: str) -> None:
    """Every decision, newest first."""
    with runtime.database().read() as connection:
        entries = trail.history(connection, hierarchy=hierarchy, customer=customer,
                                     limit=limit)
    emit({"entries": entries}, fmt, lambda _: output.table(
        [(e.run, e.date, e.hierarchy, e.customer, e.invoice, e.step, e.kind, e.reason)
         for e in entries],
        ["run", "date", "hierarchy", "customer", "invoice", "step", "kind", "reason"]))


# --- plugins ---------------------------------------------------------------------------


@cli.command()
@format_option("text", "json")
@pass_runtime
def plugins(runtime: Runtime, fmt: str) -> None:
    """The loaded plugins, where each comes from, the hooks each implements."""
    infos = list_plugins(runtime.pm)
    emit({"plugins": infos}, fmt, lambda _: output.table(
        [(i.name, i.source, f"{i.distribution or ''} {i.version or ''}".strip(),
          ", ".join(i.hooks)) for i in infos],
        ["name", "source", "distribution", "hooks"]))


# --- records (activities, letters, outbox) ---


def _activities_table(rows: list[records.ActivityRow]) -> str:
    return output.table(
        [(a.id, a.customer, a.invoice, a.step, a.type, a.purpose, a.agent, a.due_date, a.status)
         for a in rows],
        ["id", "customer", "invoice", "step", "type", "purpose", "agent", "due", "status"])


@cli.command()
@click.option("--open", "open_only", is_flag=True, help="Only the activities still open.")
@format_option("text", "json")
@pass_runtime
def activities(runtime: Runtime, open_only: bool, fmt: str) -> None:
    """Collection activities, oldest first."""
    with runtime.database().read() as connection:
        found = records.list_activities(connection, open_only=open_only)
    emit({"activities": found}, fmt, lambda _: _activities_table(found))


@cli.group()
def activity() -> None:
    """Work with one collection activity."""


@activity.command("close")
@click.argument("activity_id", metavar="ID", type=int)
@click.option("--date", "on", type=DAY, default=None,
              help="The closing date (YYYY-MM-DD); default today in the setup's timezone.")
@format_option("text", "json")
@pass_runtime
def activity_close(runtime: Runtime, activity_id: int, on: datetime | None, fmt: str) -> None:
    """Close activity ID (closing a closed one changes nothing)."""
    with runtime.database().begin() as connection:
        day = on.date() if on else setupfile.today(connection)
        row, changed = records.close_activity(connection, activity_id, day)
    click.echo(f"activity {row.id} ({row.customer}, {row.type}): closed on {row.closed}"
               if changed else f"activity {row.id} was already closed on {row.closed}",
               err=True)
    if fmt == "json":
        emit(row, fmt, str)


def _letters_table(rows: list[records.LetterRow]) -> str:
    return output.table(
        [(r.id, r.customer, r.code, r.date, ", ".join(i.number for i in r.invoices),
          f"{r.total} {r.currency}", f"{r.fee} {r.currency}") for r in rows],
        ["id", "customer", "code", "date", "invoices", "total", "fee"])


@cli.group(invoke_without_command=True)
@click.option("--customer", default=None, help="Only this customer's letters.")
@format_option("text", "json")
@click.pass_context
def letters(ctx: click.Context, customer: str | None, fmt: str) -> None:
    """Posted collection letters, oldest first; `letters create` posts the next ones."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    with runtime.database().read() as connection:
        found = records.list_letters(connection, customer=customer)
    emit({"letters": found}, fmt, lambda _: _letters_table(found))


@letters.command("export")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--customer", default=None, help="Only this customer's letters.")
@click.option("--as", "as_", type=click.Choice(documents.FORMATS), default="pdf",
              show_default=True, help="The file format.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for PDF (default: one per CPU; 1 renders in this "
                   "process).")
@format_option("text", "json")
@pass_runtime
def letters_export(runtime: Runtime, directory: Path, customer: str | None, as_: str,
                   jobs: int | None, fmt: str) -> None:
    """Render posted letters into DIR, one file each: <customer>-<code>-<letter id>.pdf."""
    with runtime.database().read() as connection:
        setup_ = runtime.setup(connection)
        found = documents.letter_documents(connection, setup_, customer=customer)
    with progress(len(found), "letters") as advance:
        result = documents.export_letters(runtime.pm, setup_, found, directory, fmt=as_,
                                          jobs=jobs, progress=advance)
    emit(result, fmt, documents.summary)
    if result.errors:
        sys.exit(1)


def _outbox_table(rows: list[records.MessageRow]) -> str:
    return output.table(
        [(m.id, m.customer, m.channel, m.to, m.subject, m.status,
          m.created.isoformat(" ", "seconds"), m.sent.isoformat(" ", "seconds") if m.sent else "")
         for m in rows],
        ["id", "customer", "channel", "to", "subject", "status", "created", "sent"])


@cli.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(records.OUTBOX_STATUSES), default=None,
              help="Only messages in this status.")
@format_option("text", "json")
@click.pass_context
def outbox(ctx: click.Context, status: str | None, fmt: str) -> None:
    """Queued and sent messages, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    with runtime.database().read() as connection:
        found = records.list_outbox(connection, status=status)
    emit({"messages": found}, fmt, lambda _: _outbox_table(found))


@outbox.command("show")
@click.argument("message_id", metavar="ID", type=int)
@format_option("text", "json")
@pass_runtime
def outbox_show(runtime: Runtime, message_id: int, fmt: str) -> None:
    """Outbox message ID as its recipient reads it: the envelope, then the text."""
    with runtime.database().read() as connection:
        found = records.show_message(connection, message_id)
    emit(found, fmt, _message_text)


def _message_text(m: records.MessageShown) -> str:
    sent = m.sent.isoformat(" ", "seconds") if m.sent else "not yet"
    lines = [f"message {m.id} ({m.channel}) to {m.to}: {m.status}, sent {sent}",
             f"customer {m.customer}, invoice {m.invoice or '-'}, step {m.step or '-'}, "
             f"template {m.template or '-'} ({m.language or '-'})"]
    if m.last_error:
        lines.append(f"last attempt ({m.attempts}): {m.last_error}")
    if m.subject:
        lines.append(f"subject: {m.subject}")
    return "\n".join(lines) + "\n\n" + m.body_text


# outbox send / retry: delivery (core/outbox.py; the SMTP sender is arrears.plugins.smtp)


def _send_text(summary: Any) -> str:
    return output.table([(m.id, m.to, m.status, m.detail) for m in summary.messages],
                        ["id", "to", "status", "detail"]) if summary.messages else ""


@outbox.command("send")
@click.option("--smtp", "smtp_url", default=None, metavar="URL",
              help="SMTP server: smtp://USER:PASSWORD@HOST:PORT, ?starttls=1 or smtps:// "
                   "for TLS (docs/delivery.md); else $ARREARS_SMTP_URL. Never shown.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Try at most this many messages.")
@format_option("text", "json")
@pass_runtime
def outbox_send(runtime: Runtime, smtp_url: str | None, limit: int | None, fmt: str) -> None:
    """Deliver the queued messages; exit 1 if any failed, became uncertain, or had to be
    put back in the queue (a temporary refusal, a server out of reach), or a channel's
    sender broke down (a plugin raised; the other channels are delivered); exit 2 if a
    channel's settings are missing or refused (its messages stay queued; the other
    channels are delivered)."""
    from arrears.core import outbox as outbox_

    summary = outbox_.send(runtime.database(), runtime.pm,
                           {"smtp": smtp_url} if smtp_url else {}, limit=limit)
    if summary.refused and not summary.messages and not summary.errors:  # nothing changed
        raise BadInput(list(summary.refused.values()))
    if not (summary.messages or summary.no_sender or summary.not_attempted):
        click.echo("outbox: no queued messages", err=True)
    else:
        click.echo(f"outbox: {summary.sent} sent, {summary.failed} failed, {summary.queued} "
                   f"left queued to retry, {summary.uncertain} uncertain"
                   + (f", {summary.not_attempted} not attempted" if summary.not_attempted
                      else ""), err=True)
    for channel, count in summary.no_sender.items():
        click.echo(f"warning: no plugin delivers channel {channel!r}: {count} message"
                   f"{'' if count == 1 else 's'} left queued", err=True)
    if summary.uncertain_earlier:
        count = summary.uncertain_earlier
        click.echo(f"warning: {count} message{'' if count == 1 else 's'} left uncertain by "
                   f"earlier sends still wait{'s' if count == 1 else ''} for a person "
                   "(`arrears outbox --status uncertain`)", err=True)
    if summary.uncertain or summary.uncertain_earlier:
        click.echo("uncertain messages are never re-sent by themselves: check with the "
                   "recipient, then `arrears outbox retry ID` if it did not arrive", err=True)
    if fmt == "json":
        emit(summary, fmt, str)
    elif summary.messages:
        click.echo(_send_text(summary))
    for channel, reason in (summary.refused | summary.errors).items():
        click.echo(f"Error: channel {channel!r}: {reason}", err=True)
    if summary.refused:
        sys.exit(2)
    if summary.failed or summary.uncertain or summary.queued or summary.no_sender or \
            summary.errors:
        sys.exit(1)


@outbox.command("retry")
@click.argument("message_id", metavar="ID", type=int)
@format_option("text", "json")
@pass_runtime
def outbox_retry(runtime: Runtime, message_id: int, fmt: str) -> None:
    """Put failed or uncertain message ID back in the queue for the next send."""
    from arrears.core import outbox as outbox_

    retried = outbox_.retry(runtime.database(), message_id)
    click.echo(f"outbox message {retried.id} to {retried.to}: {retried.previous} -> queued",
               err=True)
    if fmt == "json":
        emit(retried, fmt, str)


def _warn(message: Warning | str, category: type[Warning], filename: str, lineno: int,
          file: Any = None, line: str | None = None) -> None:
    """A library's warning as a user reads it: one line, no source, no password."""
    click.echo(f"warning: {hide_password(str(message))}", err=True)


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM (a service stopped, a timeout) ends a command as Ctrl-C does: what it
    holds is let go and a run in progress is marked interrupted, not left running."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """The console script: build the plugin manager, let plugins add commands, run."""
    import gc
    import os
    import warnings

    warnings.showwarning = _warn
    signal.signal(signal.SIGTERM, _terminated)
    try:
        runtime = Runtime(get_plugin_manager())
        for warning in runtime.pm.warnings:
            click.echo(f"warning: {warning}", err=True)
        add_commands(runtime.pm, cli)
        # A run allocates a few objects per open invoice, all freed with their batch, and
        # almost never a cycle: at Python's default thresholds the collector scanned the
        # batch's live objects over and over (16 % of a usual day's run). What start-up loaded lives
        # as long as the process; frozen, it is never scanned, nor copied into a worker.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="arrears",
                 obj=runtime)
    except ArrearsError as error:  # before a command runs: a plugin that cannot load
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except Exception as error:  # a bug, not bad input: say whose, without a traceback
        if os.environ.get("ARREARS_DEBUG"):
            raise
        message = f"{type(error).__name__}: {hide_password(str(error))}"
        plugin = third_party_culprit(runtime.pm, error) if "runtime" in locals() else None
        if plugin is None and isinstance(error, OSError) and error.strerror:
            # The machine's, not a bug: a full disk or output, a file it may not write.
            where = f": {error.filename}" if error.filename else ""
            click.echo(f"Error: {error.strerror}{where}", err=True)
        elif plugin is None:
            click.echo(f"arrears: internal error: {message}\nRun again with ARREARS_DEBUG=1 "
                       "for the traceback, and please report it.", err=True)
        else:
            click.echo(f"arrears: {plugin_label(runtime.pm, plugin)} failed: {message}\nRun "
                       "again with ARREARS_DEBUG=1 for the traceback and report it to the "
                       "plugin's authors, or leave it out with "
                       f"ARREARS_DISABLE_PLUGINS={plugin}", err=True)
        sys.exit(1)
