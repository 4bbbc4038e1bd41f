"""The daily run (SEMANTICS.md §2–§6): the only place that calls the pipeline hooks.

For each batch of customers with open invoices, read set-wise, the run
assigns a hierarchy (``select_customers``), applies the exclusions
(``exclude_customer``, ``exclude_invoice``), acts on pre-dunning invoices,
picks the leading invoice, asks ``choose_step``, and carries the step out
(``execute_action``). What each customer's decision produced is recorded
(``record_history``) and committed with the batch, so a run that stops can
be run again and repeats nothing: a step done is keyed by (invoice,
hierarchy, step) and never chosen again.

``simulate`` and ``explain`` run the very same code with
``context.simulate`` set and nothing committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import attrs
import pluggy
from sqlalchemy import ColumnElement, Connection, func, select

from arrears.core import assignment, book, schema
from arrears.core.clock import utcnow
from arrears.core.context import Context, Rates
from arrears.core.domain import (
    SKIP_STATUSES,
    Action,
    Assignment,
    Customer,
    Hierarchy,
    HistoryEntry,
    Invoice,
    Outcome,
    Setup,
    Step,
    StepChoice,
    StepRun,
)
from arrears.core.errors import ArrearsError, BadInput

runs = schema.Run.__table__
invoices = schema.Invoice.__table__
history = schema.History.__table__
step_runs = schema.StepRun.__table__


@attrs.frozen
class Note:
    """A customer's step that could not be done, or a customer that failed."""

    customer: str
    step: str | None
    reason: str


@attrs.frozen
class InvoiceVerdict:
    """An open invoice and whether it counts today (``explain``)."""

    number: str
    due_date: date
    open_amount: str
    currency: str
    status: str
    eligible: bool
    reason: str = ""


@attrs.define
class Decision:
    """Everything decided for one customer on one date; ``explain`` prints it."""

    customer: Customer
    assignment: Assignment
    as_of: date
    excluded: str | None = None
    invoices: list[InvoiceVerdict] = attrs.Factory(list)
    leading: Invoice | None = None
    days_past_due: int | None = None
    done: list[StepRun] = attrs.Factory(list)
    choice: StepChoice | None = None
    actions: list[Action] = attrs.Factory(list)
    outcomes: list[tuple[Action, Outcome]] = attrs.Factory(list)
    skipped: list[Note] = attrs.Factory(list)
    history: list[HistoryEntry] = attrs.Factory(list)
    step_runs: list[dict[str, object]] = attrs.Factory(list)
    error: str | None = None


@attrs.define
class RunResult:
    """``run --format json`` (spec/CLI.md)."""

    run: int | None
    date: date
    status: str
    actions: list[Action] = attrs.Factory(list)
    skipped: list[Note] = attrs.Factory(list)
    errors: list[Note] = attrs.Factory(list)


# --- one customer ---------------------------------------------------------------------


def decide(pm: pluggy.PluginManager, customer: Customer, placed: Assignment,
           context: Context) -> Decision:
    """Decide and act for one customer; writes only through *context*."""
    decision = Decision(customer, placed, context.as_of)
    hierarchy = context.setup.hierarchy(placed.hierarchy) if placed.hierarchy else None
    if hierarchy is None:
        return decision
    as_of = context.as_of

    def note(kind: str, reason: str, invoice: str | None = None,
             step: str | None = None) -> None:
        decision.history.append(HistoryEntry(as_of, kind, reason, customer.account,  # type: ignore[arg-type]
                                             hierarchy.id, invoice, step, context.run_id))

    reasons = [r for r in pm.hook.exclude_customer(customer=customer, hierarchy=hierarchy,
                                                   context=context) if r]
    if reasons:
        decision.excluded = "; ".join(reasons)
        note("excluded", decision.excluded)
        return decision

    eligible = []
    for invoice in context.invoices(customer):
        reason = (f"collections status {invoice.status}" if invoice.status in SKIP_STATUSES
                  else "; ".join(r for r in pm.hook.exclude_invoice(
                      invoice=invoice, customer=customer, hierarchy=hierarchy,
                      context=context) if r))
        decision.invoices.append(InvoiceVerdict(
            invoice.number, invoice.due_date, str(invoice.open_amount), invoice.currency,
            invoice.status, not reason, reason))
        if reason:
            note("excluded", reason, invoice.number)
        else:
            eligible.append(invoice)
    context.eligible[customer.account] = eligible

    done = [r for r in (context.batch.step_runs.get(customer.account, []) if context.batch
                        else []) if r.hierarchy == hierarchy.id]
    ran = {(r.invoice, r.step) for r in done}

    pre_dunning = hierarchy.pre_dunning_step
    if pre_dunning is not None:
        for invoice in eligible:
            window = invoice.due_date - timedelta(days=pre_dunning.days)
            if window <= as_of <= invoice.due_date and \
                    (invoice.number, pre_dunning.description) not in ran:
                _act(pm, decision, customer, invoice, pre_dunning, hierarchy, context, note)

    regular = hierarchy.regular_steps
    candidates = eligible
    if context.setup.parameters.exclude_after_last_step and regular:
        last = regular[-1].description
        candidates = [i for i in eligible if (i.number, last) not in ran]
    if not candidates:
        return decision
    leading = decision.leading = candidates[0]
    decision.days_past_due = (as_of - leading.due_date).days
    names = {s.description for s in regular}
    decision.done = [r for r in done if r.invoice == leading.number and r.step in names]
    choice = decision.choice = pm.hook.choose_step(
        customer=customer, hierarchy=hierarchy, leading=leading, done=decision.done,
        context=context)
    if choice is None:
        return decision
    if choice.step is None:
        return decision
    if choice.hold:
        note("skipped", choice.reason, leading.number, choice.step.description)
        return decision
    for passed in choice.passed_over:
        note("skipped", f"passed over: {choice.step.description} is the step due",
             leading.number, passed)
    _act(pm, decision, customer, leading, choice.step, hierarchy, context, note)
    return decision


def _act(pm: pluggy.PluginManager, decision: Decision, customer: Customer, invoice: Invoice,
         step: Step, hierarchy: Hierarchy, context: Context,
         note: Callable[..., None]) -> None:
    action = Action(customer.account, hierarchy.id, step.description, step.action,
                    invoice.number, context.as_of, step.document)
    outcome = pm.hook.execute_action(action=action, customer=customer, invoice=invoice,
                                     step=step, hierarchy=hierarchy, context=context)
    if outcome is None:
        outcome = Outcome(False, f'no installed plugin carries out action type "{step.action}"')
    action = attrs.evolve(action, document=outcome.document or action.document,
                          recipient=outcome.recipient)
    decision.outcomes.append((action, outcome))
    if outcome.done:
        decision.actions.append(action)
        decision.step_runs.append({
            "invoice_id": invoice.id, "customer_id": customer.id, "hierarchy": hierarchy.id,
            "step": step.description, "pre_dunning": step.pre_dunning,
            "run_id": context.run_id, "date": context.as_of})
        target = f" to {action.recipient}" if action.recipient else ""
        note("action", outcome.reason or f"{step.action} {action.document or ''}{target}".strip(),
             invoice.number, step.description)
    else:
        decision.skipped.append(Note(customer.account, step.description, outcome.reason))
        note("failed", outcome.reason, invoice.number, step.description)


# --- batches ----------------------------------------------------------------------------


def decide_batch(pm: pluggy.PluginManager, context: Context,
                 only: str | None = None) -> list[Decision]:
    """Decide for the batch in *context*; failed customers end up in ``context.failures``."""
    customers = context.batch.customers
    placed = assignment.assign_batch(pm, context.setup, context.connection, customers, context)
    decisions = []
    for customer in customers:
        if customer.account in context.failures or customer.account not in placed:
            continue
        if only is not None and placed[customer.account].hierarchy != only:
            continue
        mark = context.mark()
        try:
            decision = decide(pm, customer, placed[customer.account], context)
        except ArrearsError as error:
            context.forget(mark)
            context.failures[customer.account] = str(error)
            continue
        decisions.append(decision)
    return decisions


def each_batch(db: Any, setup: Setup, as_of: date, where: ColumnElement[bool],
               work: Callable[[Context], None], *, run_id: int | None, simulate: bool,
               progress: Callable[[int], None] | None = None) -> None:
    """Call *work* with a context for each batch of the customers matching *where*.

    Each batch is read set-wise and, unless *simulate*, what *work* stored
    through the context is written out and committed as one transaction when
    *work* returns; if *work* raises, the batch rolls back.
    """
    with db.read() as reader:
        rates = Rates.load(reader, setup.parameters.accounting_currency)
        bounds = book.batch_bounds(reader, where)
    for first, last in bounds:
        with (db.read() if simulate else db.begin()) as connection:
            batch = book.load_batch(connection,
                                    book.customers_between(connection, first, last, where), as_of)
            context = Context(as_of=as_of, setup=setup, rates=rates,
                              open_amounts=batch.open_amounts(), connection=connection,
                              run_id=run_id, simulate=simulate, batch=batch)
            work(context)
            context.flush()
        if progress is not None:
            progress(len(batch.customers))


def start_run(db: Any, kind: str, as_of: date) -> int:
    """Record a run of *kind* (``run``, ``letters``) as started."""
    with db.begin() as connection:
        return connection.execute(runs.insert().values(
            kind=kind, date=as_of, status="running", started_at=utcnow())).inserted_primary_key[0]


def finish_run(db: Any, run_id: int, status: str) -> None:
    with db.begin() as connection:
        connection.execute(runs.update().where(runs.c.id == run_id).values(
            status=status, finished_at=utcnow()))


# --- the run ------------------------------------------------------------------------------


def last_success(connection: Connection) -> tuple[int, date] | None:
    row = connection.execute(
        select(runs.c.id, runs.c.date).where(runs.c.kind == "run", runs.c.status == "success")
        .order_by(runs.c.date.desc(), runs.c.id.desc()).limit(1)).first()
    return (row.id, row.date) if row else None


def break_promises(connection: Connection, as_of: date, run_id: int) -> int:
    """Mark every passed promise on a still-open invoice as broken, with history."""
    found = connection.execute(
        select(invoices.c.id, invoices.c.customer_id, invoices.c.promised_date)
        .where(invoices.c.status == "promised", invoices.c.promised_date < as_of,
               invoices.c.open_minor > 0)).all()
    if not found:
        return 0
    connection.execute(invoices.update().where(invoices.c.id.in_([r.id for r in found]))
                       .values(status="broken"))
    connection.execute(history.insert(), [
        {"run_id": run_id, "date": as_of, "customer_id": r.customer_id, "invoice_id": r.id,
         "kind": "status", "reason": f"promise to pay by {r.promised_date.isoformat()} broken: "
         "the invoice is still open"} for r in found])
    return len(found)


def purge_history(connection: Connection, as_of: date, days: int) -> None:
    connection.execute(history.delete().where(history.c.date < as_of - timedelta(days=days)))


def record(pm: pluggy.PluginManager, connection: Connection, decisions: list[Decision],
           context: Context) -> None:
    """Write a batch's history (through ``record_history``) and its step runs."""
    entries = [entry for d in decisions for entry in d.history]
    if entries:
        pm.hook.record_history(entries=entries, context=context)
    done = [row for d in decisions for row in d.step_runs]
    if done:
        connection.execute(step_runs.insert(), done)


def count_customers(connection: Connection) -> int:
    return connection.execute(
        select(func.count(func.distinct(invoices.c.customer_id))).where(invoices.c.open_minor > 0)
    ).scalar_one()


def daily_run(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
              wait: bool = True, progress: Callable[[int], None] | None = None,
              waiting: Callable[[], None] | None = None) -> RunResult:
    """The daily run for *as_of* (SEMANTICS.md §6)."""
    with db.run_lock(wait=wait, waiting=waiting):
        with db.begin() as connection:
            last = last_success(connection)
            if last is not None and last[1] > as_of:
                raise BadInput(f"--as-of: {as_of.isoformat()} is before the last successful "
                               f"run ({last[1].isoformat()}, run {last[0]})")
            if last is not None and last[1] == as_of:
                return RunResult(last[0], as_of, "already-ran")
            # Holding the lock, any run still "running" was killed.
            connection.execute(runs.update().where(runs.c.kind == "run",
                                                   runs.c.status == "running")
                               .values(status="interrupted"))
        run_id = start_run(db, "run", as_of)
        with db.begin() as connection:
            break_promises(connection, as_of, run_id)
            purge_history(connection, as_of, setup.parameters.history_days)
        result = RunResult(run_id, as_of, "running")

        def work(context: Context) -> None:
            decisions = decide_batch(pm, context)
            failed = [HistoryEntry(as_of, "failed", reason, account, run=run_id)
                      for account, reason in context.failures.items()]
            if failed:
                pm.hook.record_history(entries=failed, context=context)
            record(pm, context.connection, decisions, context)
            _collect(result, decisions, context.failures)

        each_batch(db, setup, as_of, book.with_open_invoices(), work, run_id=run_id,
                   simulate=False, progress=progress)
        result.status = "errors" if result.errors else "success"
        finish_run(db, run_id, result.status)
        return result


def _collect(result: RunResult, decisions: list[Decision], failures: dict[str, str]) -> None:
    for decision in decisions:
        result.actions.extend(decision.actions)
        result.skipped.extend(decision.skipped)
    result.errors.extend(Note(account, None, reason) for account, reason in failures.items())


def simulate(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
             hierarchy: str | None = None) -> RunResult:
    """The actions a run would create on *as_of*; writes nothing."""
    if hierarchy is not None and setup.hierarchy(hierarchy) is None:
        raise BadInput(f'--hierarchy: no hierarchy "{hierarchy}" in the setup')
    result = RunResult(None, as_of, "simulation")

    def work(context: Context) -> None:
        _collect(result, decide_batch(pm, context, hierarchy), context.failures)

    each_batch(db, setup, as_of, book.with_open_invoices(), work, run_id=None, simulate=True)
    return result


def explain(db: Any, pm: pluggy.PluginManager, setup: Setup, account: str,
            as_of: date) -> Decision:
    """The decision for one customer on *as_of*, with its trail; writes nothing."""
    with db.read() as connection:
        customer = book.find_customer(connection, account)
        batch = book.load_batch(connection, [customer], as_of)
        context = Context(as_of=as_of, setup=setup,
                          rates=Rates.load(connection, setup.parameters.accounting_currency),
                          open_amounts=batch.open_amounts(), connection=connection,
                          simulate=True, batch=batch)
        decisions = decide_batch(pm, context)
    if account in context.failures:
        return Decision(customer, Assignment(account, None, "error"), as_of,
                        error=context.failures[account])
    return decisions[0]
