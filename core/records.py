"""What actions leave behind: collection letters, activities and outbox messages.

- The collection letter sequence (SEMANTICS.md §5, §7): which letter a
  customer gets next, whether its grace period has passed, and posting it.
  :func:`post_next_letter` is the one function behind both the ``letter``
  action of a run (``arrears.plugins.letters``) and the standalone letter run
  (:func:`create_letters`, ``arrears letters create``).
- The listings behind ``arrears activities``, ``letters`` and ``outbox``, and
  closing an activity.

Letters and their totals: a letter is in the customer's currency. Each listed
invoice keeps its own currency and open amount; the total converts each open
amount into the customer's currency through the accounting currency
(``amount × rate(invoice currency) ÷ rate(customer currency)``, rates valid on
the posting date), adds the unrounded results and rounds the sum half-up to the
customer's currency. The fee is the letter code's, in the customer's currency.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pluggy
from sqlalchemy import Connection, exists, select

from arrears.core import book, money, run, schema
from arrears.core.context import Context
from arrears.core.domain import (
    Customer,
    Hierarchy,
    HistoryEntry,
    Invoice,
    LetterCode,
    LetterSequence,
    Outcome,
    PostedLetter,
    Setup,
    Step,
)
from arrears.core.errors import ArrearsError, BadInput

"""Collections statuses that keep an invoice out of every action (SEMANTICS.md §2)."""

STANDALONE = "standalone letter run"

customers = schema.Customer.__table__
invoices = schema.Invoice.__table__
activities = schema.Activity.__table__
letters = schema.Letter.__table__
letter_lines = schema.LetterInvoice.__table__
outbox = schema.OutboxMessage.__table__
runs = schema.Run.__table__


# --- the letter sequence -------------------------------------------------------------


def sequence_for(customer: Customer, setup: Setup) -> LetterSequence | None:
    """The customer's own letter sequence if it exists, else the default one."""
    by_id = {s.id: s for s in setup.letter_sequences}
    if customer.letter_sequence and customer.letter_sequence in by_id:
        return by_id[customer.letter_sequence]
    default = setup.parameters.default_letter_sequence
    return by_id.get(default) if default else None


def _position(previous: PostedLetter, sequence: LetterSequence) -> int:
    """Where *previous* stands in *sequence* (it may come from another sequence)."""
    last = len(sequence.letters) - 1
    if previous.sequence == sequence.id and 0 <= previous.position <= last:
        return previous.position
    codes = [c.code for c in sequence.letters]
    if previous.code in codes:
        return codes.index(previous.code)
    return max(0, min(previous.position, last))


@attrs.frozen
class LetterPlan:
    """The next letter of a customer and its grace period (SEMANTICS.md §5, §7).

    *grace_from* is the leading invoice's due date for the first letter, else
    the posting date of *previous*; the letter may be posted from
    *grace_until* = *grace_from* + the code's days on.
    """

    sequence: LetterSequence
    position: int
    previous: PostedLetter | None
    leading: Invoice
    grace_from: date
    grace_until: date

    @property
    def code(self) -> LetterCode:
        return self.sequence.letters[self.position]

    def waiting(self, as_of: date) -> str | None:
        """Why the letter cannot be posted on *as_of*, or None when it can."""
        code, previous = self.code, self.previous
        if previous is not None and previous.date >= as_of:
            # One letter per customer per day, even with a code of 0 grace days.
            return f"{previous.code} was already posted on {previous.date.isoformat()}"
        if as_of >= self.grace_until:
            return None
        days = f"{code.days} day{'' if code.days == 1 else 's'}"
        after = (f"{previous.code} of {previous.date.isoformat()}" if previous else
                 f"the due date of {self.leading.number}, {self.grace_from.isoformat()}")
        return (f"grace period of {code.code} ends on {self.grace_until.isoformat()} "
                f"({days} after {after})")

    def details(self) -> dict[str, Any]:
        return {"letter": self.code.code, "sequence": self.sequence.id,
                "grace_from": self.grace_from, "grace_until": self.grace_until}


def plan_letter(customer: Customer, leading: Invoice, context: Context) -> LetterPlan | str:
    """The customer's next letter, or why there is none (no sequence).

    The previous letter is the latest posted letter (by date, then position)
    that lists one of the customer's current overdue invoices, whatever their
    status; the next code follows it, and after the last code the last one
    repeats.
    """
    sequence = sequence_for(customer, context.setup)
    if sequence is None:
        own = (f'its letter sequence "{customer.letter_sequence}" is not in the setup'
               if customer.letter_sequence else "it has no letter sequence")
        return f"no letter sequence for {customer.account}: {own} and " \
               "parameters.default_letter_sequence names none"
    if not sequence.letters:
        return f'letter sequence "{sequence.id}" has no letters'
    overdue = {i.number for i in context.invoices(customer) if i.due_date < context.as_of}
    previous = max((p for p in context.letters(customer) if p.invoices & overdue),
                   key=lambda p: (p.date, p.position), default=None)
    if previous is None:
        position, grace_from = 0, leading.due_date
    else:
        position = min(_position(previous, sequence) + 1, len(sequence.letters) - 1)
        grace_from = previous.date
    grace_until = grace_from + timedelta(days=sequence.letters[position].days)
    return LetterPlan(sequence, position, previous, leading, grace_from, grace_until)


def _in_currency(amount: Decimal, currency: str, target: str, context: Context) -> Decimal:
    """*amount* of *currency* in *target*, through the accounting currency, unrounded."""
    if currency == target:
        return amount
    return (context.rates.rate(currency, context.as_of) * amount
            / context.rates.rate(target, context.as_of))


def post_next_letter(customer: Customer, leading: Invoice, context: Context, *,
                     hierarchy: Hierarchy | None, step: Step | None) -> Outcome:
    """Post the customer's next collection letter if its grace period has passed.

    *leading* is the invoice whose due date starts the first letter's grace
    period. The letter lists every eligible overdue invoice (see
    :meth:`Context.eligible_invoices`; *hierarchy* None for the standalone run). Writes
    through ``context.post_letter`` (nothing when simulating). Raises
    MissingRate when a conversion needs a missing rate.

    :returns: done with the letter code as *document*, or not done and why;
        *details* name the letter and its grace period either way.
    """
    plan = plan_letter(customer, leading, context)
    if isinstance(plan, str):
        return Outcome(False, plan)
    details = plan.details()
    code = plan.code
    if (reason := plan.waiting(context.as_of)) is not None:
        return Outcome(False, reason, document=code.code, details=details)
    as_of = context.as_of
    lines = [i for i in context.eligible_invoices(customer) if i.due_date < as_of]
    if not lines:
        return Outcome(False, f"no eligible overdue invoice to list on {code.code}",
                       document=code.code, details=details)
    currency = customer.currency
    total = money.quantize(sum((_in_currency(i.open_amount, i.currency, currency, context)
                                for i in lines), Decimal(0)), currency)
    fee = money.quantize(code.fee, currency)
    context.post_letter(
        customer, sequence=plan.sequence.id, code=code.code, position=plan.position,
        currency=currency, lines=[(i, i.open_amount) for i in lines], total=total, fee=fee,
        hierarchy=hierarchy.id if hierarchy else None,
        step=step.description if step else None)
    details.update(invoices=[i.number for i in lines], currency=currency, total=total, fee=fee)
    return Outcome(True, document=code.code, details=details)


# --- the standalone letter run -------------------------------------------------------


@attrs.frozen
class LetterLine:
    """An invoice listed on a letter; *days_overdue* count on the letter's date."""

    number: str
    due_date: date
    open_amount: Decimal
    currency: str
    invoice_date: date | None = None
    days_overdue: int | None = None


@attrs.frozen
class Note:
    """A customer the letter run posted nothing for, and why."""

    customer: str
    reason: str


@attrs.frozen
class LetterEntry:
    """A letter the standalone run posted."""

    customer: str
    code: str
    date: date
    invoice: str
    invoices: list[str]
    currency: str
    total: Decimal
    fee: Decimal


@attrs.define
class LetterRun:
    """``letters create --format json``."""

    run: int | None
    date: date
    status: str
    letters: list[LetterEntry] = attrs.Factory(list)
    waiting: list[Note] = attrs.Factory(list)
    errors: list[Note] = attrs.Factory(list)


def _overdue_on(as_of: date) -> Any:
    """SQL condition: the customer has an open invoice due before *as_of*."""
    return exists().where(invoices.c.customer_id == customers.c.id, invoices.c.open_minor > 0,
                          invoices.c.due_date < as_of)


def create_letters(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
                   progress: Callable[[int], None] | None = None) -> LetterRun:
    """The standalone letter run (SEMANTICS.md §5): every customer with overdue invoices
    gets its next letter when the grace period has passed, outside any hierarchy.

    Eligible invoices are those not disputed or promised. The letters are not
    contacts (no step is recorded as run, quiet days ignore them); each one
    is written to the history (kind ``action``, no step). Customers are read
    in batches, each batch written in one transaction; the run holds the run
    lock, so it never interleaves with a daily run.
    """
    with db.run_lock(wait=True):
        run_id = run.start_run(db, "letters", as_of)
        result = LetterRun(run_id, as_of, "running")

        def work(context: Context) -> None:
            entries = [entry for customer in context.batch.customers
                       if (entry := _letter_for(customer, context, result)) is not None]
            if entries:
                pm.hook.record_history(entries=entries, context=context)

        run.each_batch(db, setup, as_of, _overdue_on(as_of), work, run_id=run_id,
                       simulate=False, progress=progress)
        result.status = "errors" if result.errors else "success"
        run.finish_run(db, run_id, result.status)
    return result


def _letter_for(customer: Customer, context: Context, result: LetterRun) -> HistoryEntry | None:
    as_of = context.as_of
    try:
        overdue = [i for i in context.eligible_invoices(customer) if i.due_date < as_of]
        if not overdue:
            result.waiting.append(Note(customer.account, "no eligible overdue invoice"))
            return None
        leading = overdue[0]
        outcome = post_next_letter(customer, leading, context, hierarchy=None, step=None)
    except ArrearsError as error:
        result.errors.append(Note(customer.account, str(error)))
        return HistoryEntry(as_of, "failed", f"{error} ({STANDALONE})", customer.account,
                            run=context.run_id)
    if not outcome.done:
        result.waiting.append(Note(customer.account, outcome.reason))
        return None
    details = outcome.details
    result.letters.append(LetterEntry(
        customer.account, details["letter"], as_of, leading.number, details["invoices"],
        details["currency"], details["total"], details["fee"]))
    return HistoryEntry(as_of, "action", f"letter {details['letter']} ({STANDALONE})",
                        customer.account, None, leading.number, None, context.run_id)


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
        query = query.where(letters.c.customer_id == book.find_customer(connection, customer).id)
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


def list_outbox(connection: Connection, *, status: str | None = None) -> list[MessageRow]:
    """Outbox messages, oldest first; with *status* only those in it."""
    query = (select(outbox, customers.c.account, invoices.c.number)
             .join(customers, customers.c.id == outbox.c.customer_id)
             .outerjoin(invoices, invoices.c.id == outbox.c.invoice_id)
             .order_by(outbox.c.id))
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [MessageRow(
        id=row.id, customer=row.account, channel=row.channel, to=row.recipient,
        subject=row.subject, status=row.status, created=row.created, sent=row.sent,
        message_id=row.message_id, invoice=row.number, hierarchy=row.hierarchy, step=row.step,
        template=row.template, language=row.language, attempts=row.attempts,
        last_error=row.last_error) for row in connection.execute(query)]
