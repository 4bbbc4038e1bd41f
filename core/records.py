"""What actions leave behind: the listings behind ``arrears activities``,
``letters`` and ``outbox``, and closing an activity."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy import Connection, select

from arrears.core import book, money, schema
from arrears.core.errors import BadInput

customers = schema.customer
invoices = schema.invoice
activities = schema.activity
letters = schema.letter
letter_lines = schema.letter_invoice
outbox = schema.outbox


# --- letters' lines ---------------------------------------------------------------------


@attrs.frozen
class LetterLine:
    """An invoice listed on a letter; *days_overdue* count on the letter's date."""

    number: str
    due_date: date
    open_amount: Decimal
    currency: str
    invoice_date: date | None = None
    days_overdue: int | None = None



# --- listings ------------------------------------------------------------------------


@attrs.frozen
class ActivityRow:
    """One ``activities`` entry (spec/CLI.md)."""

    id: int
    customer: str
    invoice: str | None
    hierarchy: str | None
    step: str | None
    template: str | None
    type: str
    purpose: str
    details: str
    agent: str | None
    due_date: date
    status: str
    created: date
    closed: date | None


def _activity_query() -> Any:
    return (select(activities, customers.c.account, invoices.c.number)
            .join(customers, customers.c.id == activities.c.customer_id)
            .outerjoin(invoices, invoices.c.id == activities.c.invoice_id))


def _activity(row: Any) -> ActivityRow:
    return ActivityRow(
        id=row.id, customer=row.account, invoice=row.number, hierarchy=row.hierarchy,
        step=row.step, template=row.template, type=row.type, purpose=row.purpose,
        details=row.details, agent=row.agent, due_date=row.due_date, status=row.status,
        created=row.created, closed=row.closed)


def list_activities(connection: Connection, *, open_only: bool = False) -> list[ActivityRow]:
    """Activities, oldest first; with *open_only* only those still open."""
    query = _activity_query().order_by(activities.c.id)
    if open_only:
        query = query.where(activities.c.status == "open")
    return [_activity(row) for row in connection.execute(query)]


def close_activity(connection: Connection, activity_id: int,
                   on: date) -> tuple[ActivityRow, bool]:
    """Close an activity on *on*; returns it and False when it was closed already."""
    row = connection.execute(_activity_query().where(activities.c.id == activity_id)).first()
    if row is None:
        raise BadInput(f"ID: no activity {activity_id}")
    if row.status == "closed":
        return _activity(row), False
    connection.execute(activities.update().where(activities.c.id == activity_id)
                       .values(status="closed", closed=on))
    return attrs.evolve(_activity(row), status="closed", closed=on), True


@attrs.frozen
class LetterRow:
    """One ``letters`` entry (spec/CLI.md); amounts with their currency's decimals."""

    id: int
    customer: str
    code: str
    sequence: str
    date: date
    currency: str
    invoices: list[LetterLine]
    total: Decimal
    fee: Decimal
    hierarchy: str | None
    step: str | None
    run: int | None


def list_letters(connection: Connection, *, customer: str | None = None) -> list[LetterRow]:
    """Posted letters, oldest first; with *customer* only that customer's."""
    query = (select(letters, customers.c.account)
             .join(customers, customers.c.id == letters.c.customer_id)
             .order_by(letters.c.date, letters.c.id))
    if customer is not None:
        found = book.find_customer(connection, customer, "--customer")
        query = query.where(letters.c.customer_id == found.id)
    rows = connection.execute(query).all()
    lines: dict[int, list[LetterLine]] = {row.id: [] for row in rows}
    line_query = (select(letter_lines.c.letter_id, letter_lines.c.open_minor, invoices.c.number,
                         invoices.c.due_date, invoices.c.currency, invoices.c.invoice_date)
                  .join(invoices, invoices.c.id == letter_lines.c.invoice_id)
                  .order_by(invoices.c.due_date, invoices.c.invoice_date, invoices.c.number))
    if customer is not None:  # all letters: every line, rather than an unbounded IN list
        line_query = line_query.where(letter_lines.c.letter_id.in_(lines))
    posted = {row.id: row.date for row in rows}
    for line in connection.execute(line_query):
        if line.letter_id in lines:
            lines[line.letter_id].append(LetterLine(
                line.number, line.due_date, money.from_minor(line.open_minor, line.currency),
                line.currency, line.invoice_date,
                (posted[line.letter_id] - line.due_date).days))
    return [LetterRow(
        id=row.id, customer=row.account, code=row.code, sequence=row.sequence, date=row.date,
        currency=row.currency, invoices=lines[row.id],
        total=money.from_minor(row.total_minor, row.currency),
        fee=money.from_minor(row.fee_minor, row.currency), hierarchy=row.hierarchy,
        step=row.step, run=row.run_id) for row in rows]


OUTBOX_STATUSES = ("queued", "sent", "failed", "uncertain")


@attrs.frozen
class MessageRow:
    """One ``outbox`` entry (spec/CLI.md)."""

    id: int
    customer: str
    channel: str
    to: str
    subject: str
    status: str
    created: datetime
    sent: datetime | None
    message_id: str | None
    invoice: str | None
    hierarchy: str | None
    step: str | None
    template: str | None
    language: str | None
    attempts: int
    last_error: str | None


@attrs.frozen
class MessageShown(MessageRow):
    """``outbox show``: an outbox entry with what it says. *body_text* is the text the
    recipient gets: the template's, or else derived from the HTML as the sender does."""

    body_text: str
    body_html: str


def _select_outbox() -> Any:
    return (select(outbox, customers.c.account, invoices.c.number)
            .join(customers, customers.c.id == outbox.c.customer_id)
            .outerjoin(invoices, invoices.c.id == outbox.c.invoice_id)
            .order_by(outbox.c.id))


def _message_fields(row: Any) -> dict[str, Any]:
    return dict(
        id=row.id, customer=row.account, channel=row.channel, to=row.recipient,
        subject=row.subject, status=row.status, created=row.created, sent=row.sent,
        message_id=row.message_id, invoice=row.number, hierarchy=row.hierarchy, step=row.step,
        template=row.template, language=row.language, attempts=row.attempts,
        last_error=row.last_error)


def list_outbox(connection: Connection, *, status: str | None = None) -> list[MessageRow]:
    """Outbox messages, oldest first; with *status* only those in it."""
    query = _select_outbox()
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [MessageRow(**_message_fields(row)) for row in connection.execute(query)]


def show_message(connection: Connection, message_id: int) -> MessageShown:
    """Outbox message *message_id* with its bodies; BadInput if there is none."""
    from arrears.core.templating import plain_text

    row = connection.execute(_select_outbox().where(outbox.c.id == message_id)).first()
    if row is None:
        raise BadInput(f"ID: no outbox message {message_id}")
    html = row.body_html or ""
    return MessageShown(**_message_fields(row), body_text=row.body_text or plain_text(html),
                        body_html=html)
