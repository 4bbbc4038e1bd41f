"""Reading the book set-wise: customers in batches, their open amounts, one customer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy import ColumnElement, Connection, Select, exists, func, literal_column, or_, select

from arrears.core import money, schema
from arrears.core.domain import Contact, Customer, Invoice, Payment, PostedLetter, StepRun
from arrears.core.errors import BadInput

customers = schema.customer
invoices = schema.invoice

BATCH = 2000

OPEN = invoices.c.open_minor > literal_column("0")
"""SQL condition: the invoice is open. The 0 is written into the statement, not bound,
so that the planner sees the condition of the ``ix_invoice_open`` partial index and reads
the open invoices alone, however many paid ones the ledger holds."""


def select_customers() -> Select[Any]:
    """SELECT of the customer columns :func:`customer_from_row` takes, in its order."""
    c = customers.c
    return select(c.account, c.name, c.currency, c.customer_group, c.country, c.language,
                  c.sales_group, c.collections_agent, c.letter_sequence, c.credit_limit_minor,
                  c.address, c.id)


def customer_from_row(row: Any) -> Customer:
    """The Customer of a row of :func:`select_customers`, read as a plain tuple (a run
    reads every customer with open invoices)."""
    (account, name, currency, group, country, language, sales_group, agent, sequence,
     limit, address, id_) = row
    return Customer(account, name, currency, group, country, language, sales_group, agent,
                    sequence, None if limit is None else money.from_minor(limit, currency),
                    address, id_)


def with_open_invoices() -> ColumnElement[bool]:
    """SQL condition: the customer has an open invoice."""
    return exists().where(invoices.c.customer_id == customers.c.id, OPEN)


def batches(connection: Connection, where: ColumnElement[bool]) -> list[list[int]]:
    """The ids of the customers matching *where*, in order, cut into batches of BATCH."""
    batch = BATCH
    ids = connection.execute(select(customers.c.id).where(where).order_by(customers.c.id)
                             ).scalars().all()
    return [list(ids[i:i + batch]) for i in range(0, len(ids), batch)]


def customers_in(connection: Connection, ids: Sequence[int]) -> list[Customer]:
    """The customers with *ids* (one of :func:`batches`), read by the range of their ids:
    *where* is not asked again, and the few customers between them that it left out
    are dropped here."""
    wanted = set(ids)
    rows = connection.execute(select_customers().where(
        customers.c.id.between(min(ids), max(ids))).order_by(customers.c.id))
    return [customer_from_row(row) for row in rows if row.id in wanted]


def find_customer(connection: Connection, account: str, given: str = "CUSTOMER") -> Customer:
    """The customer with *account*; BadInput naming it, and where it was *given* (an
    argument or option), if there is none."""
    row = connection.execute(select_customers().where(customers.c.account == account)).first()
    if row is None:
        raise BadInput(f'{given}: no customer "{account}"')
    return customer_from_row(row)


# --- one batch of the daily run ------------------------------------------------------


@attrs.frozen
class Batch:
    """Everything the run needs about a batch of customers, read set-wise.

    Invoices are the open ones, with a promise whose date has passed already
    seen as ``broken`` (SEMANTICS.md §7); *promises_broken* are those still
    ``promised`` in the database, for the run to mark. Step runs and letters are those of
    open invoices; *lettered* is the date of each customer's latest letter, whatever it
    lists, when on or after the run date; *last_contact* is the latest contact before
    the run date;
    *queued* the outbox keys of messages about open invoices, or about no invoice.
    """

    customers: list[Customer]
    invoices: dict[str, list[Invoice]]
    contacts: dict[str, list[Contact]]
    step_runs: dict[str, list[StepRun]]
    last_contact: dict[str, date]
    letters: dict[str, list[PostedLetter]]
    invoice_ids: dict[str, int]
    queued: frozenset[str] = frozenset()
    promises_broken: tuple[tuple[int, str, str, date], ...] = ()  # invoice id, account,
    # invoice number, promised date
    lettered: dict[str, date] = attrs.Factory(dict)

    def open_amounts(self) -> dict[str, dict[str, Decimal]]:
        amounts: dict[str, dict[str, Decimal]] = {}
        for account, open_invoices in self.invoices.items():
            by_currency = amounts[account] = {}
            for invoice in open_invoices:
                currency = invoice.currency
                by_currency[currency] = (by_currency[currency] + invoice.open_amount
                                         if currency in by_currency else invoice.open_amount)
        return amounts


def effective_status(status: str, promised: date | None, as_of: date) -> str:
    """A promise whose date has passed is broken (SEMANTICS.md §7)."""
    if status == "promised" and promised is not None and promised < as_of:
        return "broken"
    return status


def load_batch(connection: Connection, batch: Sequence[Customer], as_of: date) -> Batch:
    """Everything the run needs about the customers of *batch*, read set-wise.

    A batch is a run of consecutive customer ids, so every table is read by the
    range of the batch's ids (an index range scan with two bound parameters)
    and rows of customers between them that are not in the batch are dropped
    here: an ``IN`` list of the batch's ids is a new, long statement for each
    batch, and compiling it cost more than the query.
    """
    ids = {c.id: c.account for c in batch}
    first, last = min(ids), max(ids)
    open_invoices: dict[str, list[Invoice]] = {c.account: [] for c in batch}
    numbers: dict[int, str] = {}
    invoice_ids: dict[str, int] = {}
    broken: list[tuple[int, str, str, date]] = []
    c = invoices.c
    query = (select(c.id, c.number, c.customer_id, c.invoice_date, c.due_date, c.amount_minor,
                    c.open_minor, c.currency, c.status, c.promised_date)
             .where(c.customer_id.between(first, last), OPEN)
             # Customer first, as the index of the open invoices is: no sort of the batch.
             .order_by(c.customer_id, c.due_date, c.invoice_date, c.number))
    # The hot loop of a run (every open invoice): plain tuples, no lookups by name.
    for (id_, number, customer_id, invoice_date, due_date, amount_minor, open_minor, currency,
         status, promised_date) in connection.execute(query):
        account = ids.get(customer_id)
        if account is None:
            continue
        numbers[id_] = number
        invoice_ids[number] = id_
        if status == "promised":
            status = effective_status(status, promised_date, as_of)
            if status == "broken":
                broken.append((id_, account, number, promised_date))
        amount = money.from_minor(amount_minor, currency)
        open_invoices[account].append(Invoice(
            number, account, invoice_date, due_date, amount,
            amount if open_minor == amount_minor else money.from_minor(open_minor, currency),
            currency, status, promised_date, id_))

    contacts: dict[str, list[Contact]] = {}
    table = schema.contact
    query = (select(table.c.customer_id, table.c.email, table.c.purpose, table.c.name,
                    table.c.phone)
             .where(table.c.customer_id.between(first, last))
             .order_by(table.c.customer_id, table.c.position))
    for customer_id, email, purpose, name, phone in connection.execute(query):
        account = ids.get(customer_id)
        if account is not None:
            contacts.setdefault(account, []).append(Contact(account, email, purpose, name, phone))

    # Only what still matters is read, so that a book's years of history do not slow
    # its daily run: the step runs and letters of open invoices, the outbox keys of
    # messages about open invoices (or about none), and each customer's last contact.
    step_runs: dict[str, list[StepRun]] = {}
    table = schema.step_run
    query = (select(table.c.customer_id, table.c.invoice_id, table.c.hierarchy, table.c.step,
                    table.c.date)
             .join(invoices, invoices.c.id == table.c.invoice_id)
             .where(table.c.customer_id.between(first, last), OPEN)
             .order_by(table.c.customer_id, table.c.date, table.c.id))
    for customer_id, invoice_id, hierarchy, step, on in connection.execute(query):
        if invoice_id in numbers:
            step_runs.setdefault(ids[customer_id], []).append(
                StepRun(hierarchy, step, numbers[invoice_id], on))
    query = (select(table.c.customer_id, func.max(table.c.date))
             .where(table.c.customer_id.between(first, last), table.c.date < as_of)
             .group_by(table.c.customer_id))
    last_contact = {ids[customer_id]: on for customer_id, on in connection.execute(query)
                    if customer_id in ids}

    letters: dict[int, tuple[str, Any]] = {}
    listed: dict[int, set[str]] = {}
    letter, line = schema.letter, schema.letter_invoice
    query = (select(letter.c.id, letter.c.customer_id, letter.c.sequence, letter.c.code,
                    letter.c.position, letter.c.date, line.c.invoice_id)
             .join(line, line.c.letter_id == letter.c.id)
             .join(invoices, invoices.c.id == line.c.invoice_id)
             .where(letter.c.customer_id.between(first, last), OPEN))
    for letter_id, customer_id, *found, invoice_id in connection.execute(query):
        if invoice_id in numbers:
            listed.setdefault(letter_id, set()).add(numbers[invoice_id])
            letters[letter_id] = (ids[customer_id], found)
    posted: dict[str, list[PostedLetter]] = {}
    for letter_id, (account, (sequence, code, position, on)) in sorted(letters.items()):
        posted.setdefault(account, []).append(
            PostedLetter(sequence, code, position, on, frozenset(listed[letter_id])))
    for account_letters in posted.values():
        account_letters.sort(key=lambda p: (p.date, p.position))
    query = (select(letter.c.customer_id, func.max(letter.c.date))
             .where(letter.c.customer_id.between(first, last), letter.c.date >= as_of)
             .group_by(letter.c.customer_id))
    lettered = {ids[customer_id]: on for customer_id, on in connection.execute(query)
                if customer_id in ids}

    # The outbox keys of messages about the batch's open invoices, or about no invoice.
    outbox = schema.outbox
    query = (select(outbox.c.dedupe_key, outbox.c.customer_id, outbox.c.invoice_id)
             .outerjoin(invoices, invoices.c.id == outbox.c.invoice_id)
             .where(outbox.c.customer_id.between(first, last),
                    or_(outbox.c.invoice_id.is_(None), OPEN)))
    queued = frozenset(key for key, customer_id, invoice_id in connection.execute(query)
                       if invoice_id in numbers or (invoice_id is None and customer_id in ids))
    return Batch(list(batch), open_invoices, contacts, step_runs, last_contact, posted,
                 invoice_ids, queued, tuple(broken), lettered)


def load_payments(connection: Connection, batch: Sequence[Customer],
                  as_of: date) -> dict[str, list[Payment]]:
    """The payments of the customers of *batch* dated on or before *as_of*, oldest
    first, against any of their invoices: read only when a plugin asks."""
    ids = {c.id: c.account for c in batch}
    payments = schema.payment
    query = (select(payments.c.date, payments.c.amount_minor, payments.c.reference,
                    invoices.c.number, invoices.c.currency, invoices.c.customer_id)
             .join(invoices, invoices.c.id == payments.c.invoice_id)
             .where(invoices.c.customer_id.in_(ids), payments.c.date <= as_of)
             .order_by(payments.c.date, payments.c.id))
    found: dict[str, list[Payment]] = {account: [] for account in ids.values()}
    for row in connection.execute(query):
        account = ids[row.customer_id]
        found[account].append(Payment(
            row.number, account, row.date, money.from_minor(row.amount_minor, row.currency),
            row.currency, row.reference or ""))
    return found
