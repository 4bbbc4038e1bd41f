"""What hooks get besides their subject: the date, the setup, rates, the batch's
book, and the one way to store what an action makes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy import Connection, select

from arrears.core import book, db, money, schema
from arrears.core.clock import utcnow
from arrears.core.domain import (
    SKIP_STATUSES,
    Assignment,
    Contact,
    Customer,
    Invoice,
    Party,
    Payment,
    PostedLetter,
    Setup,
)
from arrears.core.errors import MissingRate


@attrs.define
class Rates:
    """Exchange rates into the accounting currency, loaded once per command."""

    accounting_currency: str
    _dates: dict[str, list[date]] = attrs.field(factory=dict)
    _rates: dict[str, list[Decimal]] = attrs.field(factory=dict)

    @classmethod
    def load(cls, connection: Connection, accounting_currency: str) -> Rates:
        rates = cls(accounting_currency)
        table = schema.rate
        query = select(table.c.currency, table.c.date, table.c.rate).order_by(
            table.c.currency, table.c.date
        )
        for currency, on, rate in connection.execute(query):
            rates._dates.setdefault(currency, []).append(on)
            rates._rates.setdefault(currency, []).append(rate)
        return rates

    def rate(self, currency: str, on: date) -> Decimal:
        """The latest rate of *currency* dated on or before *on*."""
        if currency == self.accounting_currency:
            return Decimal(1)
        dates = self._dates.get(currency, [])
        index = bisect.bisect_right(dates, on)
        if index == 0:
            raise MissingRate(currency, on)
        return self._rates[currency][index - 1]

    def convert(self, amount: Decimal, currency: str, on: date,
                into: str | None = None) -> Decimal:
        """*amount* of *currency* in *into* (by default the accounting currency, else
        through it), unrounded."""
        if into is not None and into != self.accounting_currency:
            return amount if currency == into else \
                self.convert(amount, currency, on) / self.rate(into, on)
        if currency == self.accounting_currency:
            return amount
        return amount * self.rate(currency, on)


@attrs.define
class Context:
    """Handed to hooks that decide about customers on one date.

    :ivar as_of: the run date.
    :ivar setup: the setup in force.
    :ivar rates: exchange rates.
    :ivar simulate: True when nothing may be written (``simulate``, ``explain``):
        the ``create_…``/``post_…``/``queue_…`` methods then store nothing.
    :ivar failures: customers that could not be decided, with the reason; a
        plugin reports one with :meth:`fail` and the kernel records it.
    :ivar assignments: the hierarchy each customer of the batch was assigned to, once
        the batch is assigned.
    :ivar connection: the database, to read from while deciding (a run decides
        each batch in a read transaction, possibly in a worker process, and
        writes what was stored afterwards): store rows with :meth:`store` and
        the ``create_…``/``post_…``/``queue_…`` methods, never through it.
    """

    as_of: date
    setup: Setup
    rates: Rates
    open_amounts: Mapping[str, Mapping[str, Decimal]] = attrs.field(factory=dict)
    failures: dict[str, str] = attrs.field(factory=dict)
    assignments: dict[str, Assignment] = attrs.field(factory=dict)
    # (invoice, step) the kernel is carrying out, and where each failed customer failed
    acting: tuple[str, str] | None = None
    failed_at: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    connection: Connection | None = None
    run_id: int | None = None
    simulate: bool = True
    batch: Any = None  # arrears.core.book.Batch during a run
    eligible: dict[str, list[Invoice]] = attrs.field(factory=dict)
    writes: list[tuple[Any, dict[str, Any], list[dict[str, Any]]]] = attrs.field(factory=list)
    # the outbox keys this batch queued, also when simulating: a set, and in order for forget
    _queued: set[str] = attrs.field(factory=set, init=False)
    _queued_order: list[str] = attrs.field(factory=list, init=False)
    _memo: dict[str, Any] = attrs.field(factory=dict, init=False)

    @classmethod
    def of_batch(cls, connection: Connection, setup: Setup, as_of: date,
                 customers: Sequence[Customer], *, rates: Rates | None = None,
                 run_id: int | None = None, simulate: bool = True) -> Context:
        """The context *customers* are decided in on *as_of*, their batch read set-wise
        (:func:`~arrears.core.book.load_batch`): a run's, a simulation's, ``explain``'s
        and the assignment previews' alike. *rates* are read unless given."""
        batch = book.load_batch(connection, customers, as_of)
        if rates is None:
            rates = Rates.load(connection, setup.parameters.accounting_currency)
        return cls(as_of=as_of, setup=setup, rates=rates, open_amounts=batch.open_amounts(),
                   connection=connection, run_id=run_id, simulate=simulate, batch=batch)

    # --- reading --------------------------------------------------------------

    def balance(self, customer: Customer) -> Decimal:
        """The customer's open balance in the accounting currency on :attr:`as_of`.

        All open amounts count, whatever their status (SEMANTICS.md §7).
        Raises :class:`~arrears.core.errors.MissingRate`.
        """
        balance = Decimal(0)
        for currency, amount in self.open_amounts.get(customer.account, {}).items():
            balance += self.rates.convert(amount, currency, self.as_of)
        return balance

    def in_accounting_currency(self, amount: Decimal, currency: str) -> Decimal:
        """*amount* converted at the rate valid on :attr:`as_of`, unrounded."""
        return self.rates.convert(amount, currency, self.as_of)

    def invoices(self, customer: Customer) -> Sequence[Invoice]:
        """The customer's open invoices, whatever their status, oldest due first."""
        return self.batch.invoices.get(customer.account, []) if self.batch else []

    def eligible_invoices(self, customer: Customer) -> Sequence[Invoice]:
        """The open invoices that count today, oldest due first.

        In a run, exactly those the run kept for the customer's hierarchy (every
        ``exclude_invoices`` rule applied); outside one (the standalone letter
        run), those not disputed or promised.
        """
        if customer.account in self.eligible:
            return self.eligible[customer.account]
        return [i for i in self.invoices(customer) if i.status not in SKIP_STATUSES]

    def contacts(self, customer: Customer, purpose: str | None = None) -> list[Contact]:
        """The customer's contacts in import order, those with *purpose* if given."""
        found = self.batch.contacts.get(customer.account, []) if self.batch else []
        return [c for c in found if purpose is None or c.purpose == purpose]

    def payments(self, customer: Customer) -> Sequence[Payment]:
        """The customer's payments dated on or before :attr:`as_of`, oldest first.

        Read for the whole batch the first time a plugin asks, so a setup that
        never needs payments never reads them.
        """
        if self.batch is None or self.connection is None:
            return []
        payments = self.memo("payments", lambda: book.load_payments(
            self.connection, self.batch.customers, self.as_of))
        return payments.get(customer.account, [])

    def memo(self, key: str, load: Callable[[], Any]) -> Any:
        """``load()``, called the first time *key* is asked for in this batch, then kept.

        For a plugin that reads what it needs for the whole batch at once
        (through :attr:`connection` and ``batch.customers``), then looks it up
        per customer. Prefix *key* with the plugin's name.
        """
        if key not in self._memo:
            self._memo[key] = load()
        return self._memo[key]

    def letters(self, customer: Customer) -> Sequence[PostedLetter]:
        """Letters posted to the customer that list one of its open invoices, oldest first."""
        return self.batch.letters.get(customer.account, []) if self.batch else []

    def lettered(self, customer: Customer) -> date | None:
        """The date of the latest letter posted to the customer, whatever invoices it
        lists, when on or after :attr:`as_of`; else None."""
        return self.batch.lettered.get(customer.account) if self.batch else None

    def last_contact(self, customer: Customer) -> date | None:
        """The latest automated contact with the customer before :attr:`as_of`."""
        return self.batch.last_contact.get(customer.account) if self.batch else None

    def party(self, kind: str, party_id: str | None) -> Party | None:
        """The setup's ``sales_group`` or ``collections_agent`` with *party_id*."""
        parties = self.setup.sales_groups if kind == "sales_group" else \
            self.setup.collections_agents
        return next((p for p in parties if p.id == party_id), None)

    def fail(self, customer: Customer, reason: str) -> None:
        """Give up on *customer* for this command, with *reason*: whatever its decision
        did or stored is dropped, and a run records it as failed (to be run again)."""
        self.failures.setdefault(customer.account, reason)
        if self.acting is not None:
            self.failed_at.setdefault(customer.account, self.acting)

    # --- storing what an action makes (nothing when simulating) ----------------
    #
    # Writes are kept until the batch is written out (flush), so a customer
    # whose decision fails leaves nothing behind (forget) and a batch is written
    # with one statement per table.

    def _insert(self, table: Any, lines: list[dict[str, Any]] | None = None,
                **values: Any) -> None:
        if not self.simulate:
            self.writes.append((table, values, lines or []))

    def _invoice_id(self, number: str | None) -> int | None:
        return self.batch.invoice_ids.get(number) if self.batch and number else None

    def mark(self) -> tuple[int, int]:
        """A point to :meth:`forget` back to (before deciding for a customer)."""
        return len(self.writes), len(self._queued_order)

    def forget(self, mark: tuple[int, int]) -> None:
        """Drop what was stored since *mark*: the customer's decision failed."""
        writes, queued = mark
        del self.writes[writes:]
        self._queued.difference_update(self._queued_order[queued:])
        del self._queued_order[queued:]

    def flush(self) -> None:
        """Write everything stored, one statement per table (letters, then their lines)."""
        if self.simulate or self.connection is None or not self.writes:
            return
        by_table: dict[Any, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = {}
        for table, values, lines in self.writes:
            by_table.setdefault(table, []).append((values, lines))
        for table, rows in by_table.items():
            if not any(lines for _, lines in rows):
                db.insert_rows(self.connection, table, [values for values, _ in rows])
                continue
            ids = self.connection.execute(
                table.insert().returning(table.c.id, sort_by_parameter_order=True),
                [values for values, _ in rows]).scalars().all()
            children = [{**line, "letter_id": parent}
                        for parent, (_, lines) in zip(ids, rows, strict=True) for line in lines]
            if children:
                db.insert_rows(self.connection, schema.letter_invoice, children)
        self.writes.clear()

    def store(self, table: Any, **values: Any) -> None:
        """Store a row of a plugin's own *table* (a SQLAlchemy ``Table``) with the batch.

        Written with the batch's other rows and in its transaction; nothing
        when simulating, and dropped with the rest when the customer's
        decision fails.
        """
        self._insert(table, **values)

    def message_queued(self, dedupe_key: str) -> bool:
        """True when the outbox holds, or this batch stores, a message with *dedupe_key*."""
        return dedupe_key in self._queued or (
            self.batch is not None and dedupe_key in self.batch.queued)

    def create_activity(self, customer: Customer, *, invoice: str | None, hierarchy: str | None,
                        step: str | None, template: str | None, type: str, purpose: str,
                        details: str, agent: str | None, due_date: date,
                        closed: bool = False) -> None:
        """Store a collection activity; *closed* for a record of contact already made."""
        self._insert(
            schema.activity, customer_id=customer.id,
            invoice_id=self._invoice_id(invoice), run_id=self.run_id, hierarchy=hierarchy,
            step=step, template=template, type=type, purpose=purpose, details=details,
            agent=agent, due_date=due_date, status="closed" if closed else "open",
            created=self.as_of, closed=self.as_of if closed else None)

    def post_letter(self, customer: Customer, *, sequence: str, code: str, position: int,
                    currency: str, lines: Sequence[tuple[Invoice, Decimal]], total: Decimal,
                    fee: Decimal, hierarchy: str | None, step: str | None) -> None:
        """Store a posted letter listing *lines* (invoice, open amount on the letter)."""
        self._insert(
            schema.letter,
            [{"invoice_id": invoice.id, "open_minor": money.to_minor(amount, invoice.currency)}
             for invoice, amount in lines],
            customer_id=customer.id, run_id=self.run_id,
            hierarchy=hierarchy, step=step, sequence=sequence, code=code, position=position,
            date=self.as_of, currency=currency, total_minor=money.to_minor(total, currency),
            fee_minor=money.to_minor(fee, currency))

    def queue_message(self, customer: Customer, *, channel: str, dedupe_key: str,
                      recipient: str, subject: str = "", body_html: str = "",
                      body_text: str = "", sender: str | None = None,
                      template: str | None = None, language: str | None = None,
                      invoice: str | None = None, hierarchy: str | None = None,
                      step: str | None = None) -> bool:
        """Put a message in the outbox, in the batch's transaction.

        *dedupe_key* is unique across the outbox: a message whose key is
        already there (about one of the batch's open invoices, or about no
        invoice) or stored by this batch is not queued again, whatever reruns
        happen. Returns whether the message was queued.
        """
        if self.message_queued(dedupe_key):
            return False
        self._queued.add(dedupe_key)
        self._queued_order.append(dedupe_key)
        self._insert(
            schema.outbox, dedupe_key=dedupe_key, customer_id=customer.id,
            invoice_id=self._invoice_id(invoice), run_id=self.run_id, hierarchy=hierarchy,
            step=step, channel=channel, template=template, language=language, sender=sender,
            recipient=recipient, subject=subject, body_html=body_html, body_text=body_text,
            status="queued", created=utcnow())
        return True
