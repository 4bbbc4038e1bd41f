"""Collection letters (SEMANTICS.md §5, §7): the ``letter`` action type and the
standalone letter run (``arrears letters create``).

Which letter a customer gets next, whether its grace period has passed and
what it lists is :func:`post_next_letter`, the one function behind both.

A letter is in the customer's currency. Each listed invoice keeps its own
currency and open amount; the total converts each open amount into the
customer's currency through the accounting currency (``amount ×
rate(invoice currency) ÷ rate(customer currency)``, rates valid on the posting
date), adds the unrounded results and rounds the sum half-up to the customer's
currency. The fee is the letter code's, in the customer's currency, converted (half-up)
from the sequence's own currency when it has one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import click
import pluggy
from sqlalchemy import exists

from arrears.core import book, hookimpl, money, output, run, schema
from arrears.core import cli as cli_
from arrears.core.context import Context
from arrears.core.domain import (
    Action,
    ActionType,
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
from arrears.core.errors import ArrearsError
from arrears.core.run import Note
from arrears.plugins.activities import record_contact


def check_step(step: Step, setup: Setup) -> Iterable[str]:
    if step.pre_dunning:  # the first letter's grace days count from the due date on
        yield ("pre_dunning: a letter step cannot be pre-dunning: a letter's grace period "
               "starts at the due date, so a letter before it is never possible")
    if not setup.letter_sequences:
        yield "action: a letter step needs a [[letter_sequence]] to take letters from"
    elif setup.parameters.default_letter_sequence is None and len(setup.letter_sequences) > 1:
        yield ("action: a letter step needs parameters.default_letter_sequence for "
               "customers without a sequence of their own")


@hookimpl
def register_action_types(register: Callable[[ActionType], None]) -> None:
    # The letter comes from the customer's sequence, so `document` names no template.
    register(ActionType("letter", check_step=check_step))


@hookimpl(trylast=True)
def execute_action(action: Action, customer: Customer, invoice: Invoice, step: Step,
                   hierarchy: Hierarchy, context: Context) -> Outcome | None:
    """Post the customer's next letter of its sequence; *invoice* (the leading one)
    starts the first letter's grace period (:func:`post_next_letter`)."""
    if action.action != "letter":
        return None
    outcome = post_next_letter(customer, invoice, context, hierarchy=hierarchy,
                                       step=step)
    if outcome.done:
        details = outcome.details
        listed = details["invoices"]
        record_contact(
            context, customer, kind="letter",
            purpose=(f"Collection letter {details['letter']} listing {len(listed)} "
                     f"invoice{'' if len(listed) == 1 else 's'}, total {details['total']} "
                     f"{details['currency']}"),
            details=", ".join(listed), invoice=invoice.number, hierarchy=hierarchy.id,
            step=step.description, template=details["letter"])
    return outcome


STANDALONE = "standalone letter run"
customers = schema.customer
invoices = schema.invoice


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
    lettered: date | None = None  # Context.lettered: a letter of the run date or later

    @property
    def code(self) -> LetterCode:
        return self.sequence.letters[self.position]

    def waiting(self, as_of: date) -> str | None:
        """Why the letter cannot be posted on *as_of*, or None when it can."""
        code, previous = self.code, self.previous
        if previous is not None and previous.date >= as_of:
            # One letter per customer per day, even with a code of 0 grace days.
            return f"{previous.code} was already posted on {previous.date.isoformat()}"
        if self.lettered is not None and self.lettered >= as_of:  # listing paid invoices
            return f"a letter was already posted on {self.lettered.isoformat()}"
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
    return LetterPlan(sequence, position, previous, leading, grace_from, grace_until,
                      context.lettered(customer))


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
    charged_in = plan.sequence.currency or currency
    fee = money.quantize(context.rates.convert(code.fee, charged_in, context.as_of, currency),
                         currency)
    if charged_in == currency and fee != code.fee:  # never round a fee as written
        return Outcome(False, f"{code.code}: the fee {code.fee} has more decimals than "
                       f"{currency} allows ({money.decimals(currency)})",
                       document=code.code, details=details)
    total = money.quantize(sum((context.rates.convert(i.open_amount, i.currency, context.as_of,
                                                      currency) for i in lines), Decimal(0)),
                           currency)
    context.post_letter(
        customer, sequence=plan.sequence.id, code=code.code, position=plan.position,
        currency=currency, lines=[(i, i.open_amount) for i in lines], total=total, fee=fee,
        hierarchy=hierarchy.id if hierarchy else None,
        step=step.description if step else None)
    details.update(invoices=[i.number for i in lines], currency=currency, total=total, fee=fee)
    return Outcome(True, document=code.code, details=details)


# --- the standalone letter run -------------------------------------------------------


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
    return exists().where(invoices.c.customer_id == customers.c.id, book.OPEN,
                          invoices.c.due_date < as_of)


def create_letters(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
                   progress: Callable[[int], None] | None = None, wait: bool = True,
                   waiting: Callable[[], None] | None = None) -> LetterRun:
    """The standalone letter run (SEMANTICS.md §5): every customer with overdue invoices
    gets its next letter when the grace period has passed, outside any hierarchy.

    Eligible invoices are those not disputed or promised. The letters are not
    contacts (no step is recorded as run, quiet days ignore them); each one
    is written to the history (kind ``action``, no step). Customers are read
    in batches, each batch written in one transaction; the run holds the run
    lock, so it never interleaves with a daily run.
    """
    with db.run_lock(wait=wait, waiting=waiting):
        run_id = run.start_run(db, "letters", as_of)
        result = LetterRun(run_id, as_of, "running")

        def work(context: Context) -> None:
            entries = [entry for customer in context.batch.customers
                       if (entry := _letter_for(customer, context, result)) is not None]
            if entries:
                pm.hook.record_history(entries=entries, context=context)

        with run.interrupted_if_raising(db, run_id, f"letter run {run_id} for {as_of}"):
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
            result.waiting.append(Note(customer.account, None, "no eligible overdue invoice"))
            return None
        leading = overdue[0]
        outcome = post_next_letter(customer, leading, context, hierarchy=None, step=None)
    except ArrearsError as error:
        result.errors.append(Note(customer.account, None, str(error)))
        return HistoryEntry(as_of, "failed", f"{error} ({STANDALONE})", customer.account,
                            run=context.run_id)
    if not outcome.done:
        result.waiting.append(Note(customer.account, None, outcome.reason))
        return None
    details = outcome.details
    result.letters.append(LetterEntry(
        customer.account, details["letter"], as_of, leading.number, details["invoices"],
        details["currency"], details["total"], details["fee"]))
    return HistoryEntry(as_of, "action", f"letter {details['letter']} ({STANDALONE})",
                        customer.account, None, leading.number, None, context.run_id)


# --- the command ---------------------------------------------------------------------


@hookimpl
def register_commands(cli: click.Group) -> None:
    letters_group = cli.commands.get("letters")
    if isinstance(letters_group, click.Group):
        letters_group.add_command(create)


def _letter_run_text(result: LetterRun) -> str:
    lines = [f"letter run {result.run}, {result.date}: {result.status}, "
             f"{len(result.letters)} letters posted, {len(result.waiting)} customers waiting, "
             f"{len(result.errors)} customers failed"]
    if result.letters:
        lines.append(output.table(
            [(e.customer, e.code, ", ".join(e.invoices), f"{e.total} {e.currency}",
              f"{e.fee} {e.currency}") for e in result.letters],
            ["customer", "code", "invoices", "total", "fee"]))
    lines += [f"failed: {note.customer}: {note.reason}" for note in result.errors]
    return "\n".join(lines)


@click.command("create")
@cli_.as_of_option
@cli_.no_wait_option
@cli_.format_option("text", "json")
@cli_.pass_runtime
def create(runtime: cli_.Runtime, as_of: datetime | None, no_wait: bool, fmt: str) -> None:
    """The standalone letter run: the next letter of every customer with overdue invoices."""
    db = runtime.database()
    with db.read() as connection:
        setup_ = runtime.setup(connection)
        day = cli_.as_of_date(setup_, as_of, acting=True)
        total = run.count_customers(connection, _overdue_on(day))
    with cli_.progress(total, "customers") as advance:
        result = create_letters(db, runtime.pm, setup_, day, progress=advance,
                                wait=not no_wait, waiting=cli_.waiting_for_a_run)
    cli_.emit(result, fmt, _letter_run_text)
    if result.status == "errors":
        sys.exit(1)
