"""The daily run (SEMANTICS.md §2–§6): where the decision hooks are called.

For each batch of customers with open invoices, read set-wise, the run
assigns a hierarchy (``select_customers``), applies the exclusions
(``exclude_customer``, ``exclude_invoices``), acts on pre-dunning invoices
and, under ``use_prediction``, on invoices predicted late
(``predict_payment``, ``act_on_prediction``), picks the leading invoice,
asks ``choose_step``, and carries the step out (``execute_action``). What
each customer's decision produced is recorded (``record_history``) and
committed with the batch, so a run that stops can be run again and repeats
nothing: a step done is keyed by (invoice, hierarchy, step) and never chosen
again.

``simulate`` and ``explain`` run the very same code with
``context.simulate`` set and nothing committed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import attrs
import pluggy
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from arrears.core import assignment, book, output, plugins, schema
from arrears.core.clock import utcnow
from arrears.core.context import Context, Rates
from arrears.core.db import insert_rows
from arrears.core.domain import (
    SKIP_STATUSES,
    Action,
    Assignment,
    Customer,
    Hierarchy,
    HistoryEntry,
    Invoice,
    Outcome,
    Prediction,
    Setup,
    Step,
    StepChoice,
    StepRun,
)
from arrears.core.errors import ArrearsError, BadInput

runs = schema.run
invoices = schema.invoice
history = schema.history
step_runs = schema.step_run


@attrs.frozen
class Note:
    """A customer's step that could not be done (for *invoice*: the leading one, or for
    pre-dunning each invoice in its window), or a customer that failed."""

    customer: str
    step: str | None
    reason: str
    invoice: str | None = None


@attrs.frozen
class InvoiceVerdict:
    """An open invoice and whether it counts today (``explain``): *reason* says why
    not, or remarks on an eligible one (it may not lead)."""

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
    verdicts: list[tuple[Invoice, str]] = attrs.Factory(list)  # (open invoice, why not eligible)
    remarks: dict[str, str] = attrs.Factory(dict)  # eligible invoice number → a remark
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

    @property
    def invoices(self) -> list[InvoiceVerdict]:
        """The customer's open invoices and whether each counts today."""
        return [InvoiceVerdict(i.number, i.due_date, str(i.open_amount), i.currency, i.status,
                               not reason, reason or self.remarks.get(i.number, ""))
                for i, reason in self.verdicts]


class ActionSpool:
    """The actions of a run or simulation, kept in a temporary file as batches are
    decided, so that a day of 100,000 actions needs no more memory than a day of ten.
    Iterate it (as many times as needed) for the actions, in the order decided.

    Each action is kept as the JSON it is output as (:meth:`encode`, which a worker
    process calls for its batch), so that writing a run's JSON, which can only start
    once the last batch is done, copies text instead of converting actions again.
    """

    # JSON text never holds a raw control character (strings escape them), so the
    # newlines of an action's JSON are kept as this one, and each action is one line.
    _NEWLINE = "\x1e"

    def __init__(self) -> None:  # in memory up to 1 MiB (about 4,000 actions), then a file
        self._file = tempfile.SpooledTemporaryFile(1 << 20, "w+", encoding="utf-8")
        self._count = 0

    @staticmethod
    def encode(actions: Iterable[Action]) -> list[str]:
        """Each action's line of the spool: its JSON as the output writes it."""
        return [output.indented(a, 2).replace("\n", ActionSpool._NEWLINE) for a in actions]

    def close(self) -> None:
        self._file.close()

    def extend(self, lines: list[str]) -> None:
        """Add actions as :meth:`encode` encoded them, in order."""
        if lines:
            self._file.seek(0, os.SEEK_END)
            self._file.write("\n".join(lines) + "\n")
            self._count += len(lines)

    def encoded(self) -> Iterator[output.Encoded]:
        """The actions, in order, as the JSON the output writes for each."""
        self._file.seek(0)
        for line in self._file:
            yield output.Encoded(line[:-1].replace(self._NEWLINE, "\n"))

    def __iter__(self) -> Iterator[Action]:
        for text in self.encoded():
            fields = json.loads(text)
            fields["date"] = date.fromisoformat(fields["date"])
            yield Action(**fields)

    def __len__(self) -> int:
        return self._count


@attrs.define
class RunResult:
    """``run --format json`` (spec/CLI.md).

    A shard's result also names the shard (``"2/3"``) and whether the *day*'s run
    is now complete (``success``: every shard succeeded) or ``incomplete``.
    """

    run: int | None
    date: date
    status: str
    actions: ActionSpool = attrs.Factory(ActionSpool)
    skipped: list[Note] = attrs.Factory(list)
    errors: list[Note] = attrs.Factory(list)
    shard: str | None = None
    day: str | None = None
    stopped: str | None = None  # why an ``interrupted`` run stopped before the end


@attrs.frozen
class Shard:
    """Shard *index* of *count* (``run --shard K/N``): the customers whose id is
    K − 1 modulo N. Customer ids never change, so a shard's customers are the same
    on every run, and the N shards of a day never share a customer."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard | None:
        """``K/N`` with 1 ≤ K ≤ N; None for ``1/1`` (the whole run). BadInput otherwise."""
        index, slash, count = text.strip().partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not slash or shard is None or not 1 <= shard.index <= shard.count or \
                shard.count > MAX_SHARDS:
            raise BadInput(f"--shard: expected K/N with 1 ≤ K ≤ N ≤ {MAX_SHARDS} (shard K of N), "
                           f"got {text!r}")
        return None if shard.count == 1 else shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, customer_id: ColumnElement[Any]) -> ColumnElement[bool]:
        """SQL condition: *customer_id* belongs to this shard."""
        return (customer_id % self.count) == self.index - 1


MAX_SHARDS = 1000


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
    for reason in reasons:
        if not isinstance(reason, str):
            raise plugins.wrong_answer(pm, "exclude_customer", reason, "a reason (text) or None")
    if reasons:
        decision.excluded = "; ".join(reasons)
        note("excluded", decision.excluded)
        decision.verdicts = [(i, "the customer is excluded") for i in context.invoices(customer)]
        return decision

    eligible = []
    open_invoices = context.invoices(customer)
    counting = [i for i in open_invoices if i.status not in SKIP_STATUSES]
    excluded: dict[str, list[str]] = {}
    if counting:
        for answer in pm.hook.exclude_invoices(invoices=counting, customer=customer,
                                               hierarchy=hierarchy, context=context):
            if not isinstance(answer, Mapping) or not all(
                    isinstance(why, str | None) for why in answer.values()):
                raise plugins.wrong_answer(pm, "exclude_invoices", answer,
                                           "a mapping of invoice numbers to reasons")
            for number, why in answer.items():
                if why:
                    excluded.setdefault(number, []).append(why)
    for invoice in open_invoices:
        reason = (f"collections status {invoice.status}" if invoice.status in SKIP_STATUSES
                  else "; ".join(excluded.get(invoice.number, ())))
        decision.verdicts.append((invoice, reason))
        if reason:
            note("excluded", reason, invoice.number)
        else:
            eligible.append(invoice)
    context.eligible[customer.account] = eligible

    done = [r for r in (context.batch.step_runs.get(customer.account, []) if context.batch
                        else []) if r.hierarchy == hierarchy.id]
    ran = {(r.invoice, r.step) for r in done}

    pre_dunning = hierarchy.pre_dunning_step
    if pre_dunning is not None:  # due − days ≤ as_of ≤ due, that is as_of ≤ due ≤ as_of + days
        last_due = as_of + timedelta(days=pre_dunning.days)
        for invoice in eligible:
            if as_of <= invoice.due_date <= last_due and \
                    (invoice.number, pre_dunning.description) not in ran:
                _act(pm, decision, customer, invoice, pre_dunning, hierarchy, context, note)

    if hierarchy.use_prediction:  # SEMANTICS.md §5: invoices not overdue, predicted late
        for invoice in eligible:
            if invoice.due_date < as_of:
                continue
            prediction = pm.hook.predict_payment(invoice=invoice, customer=customer,
                                                 context=context)
            if prediction is not None and not isinstance(prediction, Prediction):
                raise plugins.wrong_answer(pm, "predict_payment", prediction,
                                           "a Prediction or None")
            acted = prediction and pm.hook.act_on_prediction(
                prediction=prediction, invoice=invoice, customer=customer,
                hierarchy=hierarchy, context=context)
            if acted:
                if not (isinstance(acted, tuple) and len(acted) == 2 and isinstance(
                        acted[0], Action) and isinstance(acted[1], Outcome)):
                    raise plugins.wrong_answer(pm, "act_on_prediction", acted,
                                               "an (Action, Outcome) pair or None")
                _record(decision, *acted, note)

    regular = hierarchy.regular_steps
    candidates = eligible
    if context.setup.parameters.exclude_after_last_step and regular:
        last = regular[-1].description
        candidates = [i for i in eligible if (i.number, last) not in ran]
        for invoice in eligible:
            if (invoice.number, last) in ran:
                decision.remarks[invoice.number] = (
                    f"not a leading candidate: its last step, {last}, ran "
                    "(exclude_after_last_step)")
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
    if not isinstance(choice, StepChoice):
        raise plugins.wrong_answer(pm, "choose_step", choice, "a StepChoice or None")
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
    context.acting = (invoice.number, step.description)  # for a failure to name
    outcome = pm.hook.execute_action(action=action, customer=customer, invoice=invoice,
                                     step=step, hierarchy=hierarchy, context=context)
    if outcome is None:
        outcome = Outcome(False, f'no installed plugin carries out action type "{step.action}"')
    elif not isinstance(outcome, Outcome):
        raise plugins.wrong_answer(pm, "execute_action", outcome, "an Outcome or None")
    elif not (outcome.done or outcome.reason):
        outcome = attrs.evolve(outcome, reason=f'the plugin carrying out action type '
                                                f'"{step.action}" gave no reason')
    context.acting = None
    if _record(decision, action, outcome, note):
        decision.step_runs.append({
            "invoice_id": invoice.id, "customer_id": customer.id, "hierarchy": hierarchy.id,
            "step": step.description, "pre_dunning": step.pre_dunning,
            "run_id": context.run_id, "date": context.as_of})


def _record(decision: Decision, action: Action, outcome: Outcome,
            note: Callable[..., None]) -> bool:
    """Add what *action* came to to *decision*: done (listed, history ``action``), or
    not possible (history ``failed``, tried again next run). Returns whether done."""
    action = attrs.evolve(action, document=outcome.document or action.document,
                          recipient=outcome.recipient)
    decision.outcomes.append((action, outcome))
    if outcome.done:
        decision.actions.append(action)
        target = f" to {action.recipient}" if action.recipient else ""
        note("action", outcome.reason or f"{action.action} {action.document or ''}{target}"
             .strip(), action.invoice, action.step)
    else:
        decision.skipped.append(Note(action.customer, action.step, outcome.reason,
                                     action.invoice))
        note("failed", outcome.reason, action.invoice, action.step)
    return outcome.done


# --- batches ----------------------------------------------------------------------------


def decide_batch(pm: pluggy.PluginManager, context: Context,
                 only: str | None = None) -> list[Decision]:
    """Decide for the batch in *context*; failed customers end up in ``context.failures``."""
    customers = context.batch.customers
    placed = context.assignments = assignment.assign_batch(pm, context.setup,
                                                           context.connection, customers, context)
    decisions = []
    for customer in customers:
        if customer.account in context.failures or customer.account not in placed:
            continue
        if only is not None and placed[customer.account].hierarchy != only:
            continue
        mark = context.mark()
        context.acting = None
        try:
            decision = decide(pm, customer, placed[customer.account], context)
        except Exception as error:
            context.fail(customer, plugins.failure(pm, error))
        if customer.account in context.failures:  # raised, or a plugin gave up on it
            context.forget(mark)
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
        batches = book.batches(reader, where)
    for ids in batches:
        with (db.read() if simulate else db.begin()) as connection:
            context = Context.of_batch(connection, setup, as_of,
                                       book.customers_in(connection, ids), rates=rates,
                                       run_id=run_id, simulate=simulate)
            work(context)
            context.flush()
        if progress is not None:
            progress(len(context.batch.customers))


# --- the run's batches, in worker processes -----------------------------------------------


@attrs.frozen
class BatchOutcome:
    """What one batch of a run or simulation came to: all the parent process needs."""

    customers: int
    actions: list[str]  # ActionSpool.encode: encoded here, where batches run side by side
    skipped: list[Note]
    errors: list[Note]


@attrs.frozen
class DecideBatch:
    """Decide (and, in a run, record) one batch of customers, given their ids.

    The batch is read and decided in a read transaction and its writes made in
    a short write transaction of their own, so that on SQLite, whose writers
    take turns, worker processes decide side by side and wait for each other
    only to write. Customers of different batches share nothing a decision
    reads, and the run lock keeps every other run out.
    """

    db: Any
    pm: pluggy.PluginManager
    setup: Setup
    as_of: date
    rates: Rates
    where: ColumnElement[bool]
    run_id: int | None = None  # None: simulate, write nothing
    only: str | None = None  # the one hierarchy simulated

    def __call__(self, ids: list[int]) -> BatchOutcome:
        simulate = self.run_id is None
        with self.db.read() as connection:
            context = Context.of_batch(connection, self.setup, self.as_of,
                                       book.customers_in(connection, ids), rates=self.rates,
                                       run_id=self.run_id, simulate=simulate)
            decisions = decide_batch(self.pm, context, self.only)
        if not simulate:
            with self.db.begin() as connection:
                context.connection = connection
                entries = break_promises(connection, context.batch, self.as_of, self.run_id)
                entries += [HistoryEntry(self.as_of, "failed", reason, account,
                                         getattr(context.assignments.get(account),
                                                 "hierarchy", None),
                                         *context.failed_at.get(account, ()), run=self.run_id)
                            for account, reason in context.failures.items()]
                if entries:
                    self.pm.hook.record_history(entries=entries, context=context)
                record(self.pm, connection, decisions, context)
                context.flush()
        return BatchOutcome(
            len(context.batch.customers),
            ActionSpool.encode(a for d in decisions for a in d.actions),
            [n for d in decisions for n in d.skipped],
            [Note(account, step, reason, invoice) for account, reason in context.failures.items()
             for invoice, step in [context.failed_at.get(account, (None, None))]])


def usable_cpus() -> int:
    """The CPUs this process may run on: a container's limit, not the host's count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cpus or 1)


def default_workers() -> int:
    """Worker processes a run uses unless told: one per usable CPU, up to four."""
    return min(usable_cpus(), 4)


_job: DecideBatch | None = None  # the job of a pool's workers (inherited through fork)
_parent: int | None = None  # the process whose workers they are


def _start_worker() -> None:
    assert _job is not None and _parent is not None
    _die_with(_parent)
    _job.db.forked()


def _die_with(parent: int) -> None:
    """End this worker when *parent* ends, however it ends (Linux): a run killed by
    cron's timeout must not leave workers behind, blocked on its pipes for ever."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def _work(ids: list[int]) -> BatchOutcome:
    assert _job is not None
    return _job(ids)


def decide_all(job: DecideBatch, *, workers: int = 1,
               progress: Callable[[int], None] | None = None) -> Iterator[BatchOutcome]:
    """Each batch's outcome, in the order of the customers' ids, whatever *workers*.

    With more than one worker and more than one batch, batches are decided in
    that many forked processes (where the platform forks, and the database is
    not one in this process's memory); otherwise here.
    """
    global _job, _parent
    with job.db.read() as reader:
        batches = book.batches(reader, job.where)
    forks = "fork" in multiprocessing.get_all_start_methods()
    if workers <= 1 or len(batches) < 2 or not forks or job.db.in_memory:
        for ids in batches:
            outcome = job(ids)
            if progress is not None:
                progress(outcome.customers)
            yield outcome
        return
    _job, _parent = job, os.getpid()
    try:
        # An executor, not multiprocessing.Pool: a worker that dies (killed, or a
        # BaseException) breaks the run with an error instead of leaving it waiting.
        with concurrent.futures.ProcessPoolExecutor(
                min(workers, len(batches)), mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker) as pool:
            broken = False
            # Taken off the list as they are collected, as Executor.map does: a batch's
            # outcome (its actions' JSON) is not held until the end of the day.
            futures = [pool.submit(_work, ids) for ids in batches]
            futures.reverse()  # submitted in order, popped from the end
            try:
                while futures:
                    future = futures.pop()
                    try:
                        outcome = future.result()
                    except concurrent.futures.process.BrokenProcessPool:
                        broken = True  # and still collect the batches the others finished
                        continue
                    if progress is not None:
                        progress(outcome.customers)
                    yield outcome
            except BaseException:  # a batch raised: start no other, the run stops here
                pool.shutdown(cancel_futures=True)
                raise
            if broken:
                raise concurrent.futures.process.BrokenProcessPool
    except concurrent.futures.process.BrokenProcessPool:
        raise ArrearsError("a worker process stopped before deciding all its customers; the "
                           "batches it finished are saved: run again to finish") from None
    finally:
        _job = _parent = None


def start_run(db: Any, kind: str, as_of: date) -> int:
    """Record a run of *kind* (``letters``) as started. The caller holds the run lock
    alone, so a run of *kind* still ``running`` was killed: it is marked ``interrupted``."""
    with db.begin() as connection:
        connection.execute(runs.update().where(runs.c.kind == kind, runs.c.status == "running")
                           .values(status="interrupted"))
        return _start(connection, kind, as_of)


def _start(connection: Connection, kind: str, as_of: date, shard: Shard | None = None) -> int:
    return connection.execute(runs.insert().values(
        kind=kind, date=as_of, status="running", started_at=utcnow(),
        shard=shard.index if shard else None, shards=shard.count if shard else None)
    ).inserted_primary_key[0]


def finish_run(db: Any, run_id: int, status: str) -> None:
    with db.begin() as connection:
        connection.execute(runs.update().where(runs.c.id == run_id).values(
            status=status, finished_at=utcnow()))


# --- the run ------------------------------------------------------------------------------


def last_success(connection: Connection) -> tuple[int, date] | None:
    """(run id, date) of the latest day whose run succeeded: a whole run did, or every
    shard of one split into N did (the id is then the last shard's)."""
    newest = func.max(runs.c.id)
    row = connection.execute(
        select(newest.label("id"), runs.c.date)
        .where(runs.c.kind == "run", runs.c.status == "success")
        .group_by(runs.c.date, runs.c.shards)
        .having(or_(runs.c.shards.is_(None),
                    func.count(func.distinct(runs.c.shard)) == runs.c.shards))
        .order_by(runs.c.date.desc(), newest.desc()).limit(1)).first()
    return (row.id, row.date) if row else None


def calendar_warnings(connection: Connection, as_of: date) -> list[str]:
    """What an operator should know of the other days before running *as_of*: a later day
    already run (this one is then decided with the book as it is now), and earlier days
    whose runs did not finish (once *as_of* has succeeded, they can no longer be run)."""
    found = []
    later = connection.execute(
        select(runs.c.id, runs.c.date).where(runs.c.kind == "run", runs.c.date > as_of)
        .order_by(runs.c.date.desc(), runs.c.id.desc()).limit(1)).first()
    if later is not None:
        found.append(f"{later.date} has been run already (run {later.id}): {as_of} is decided "
                     "with the book as it is now, statuses, payments and steps since included")
    last = last_success(connection)
    newest = func.max(runs.c.id)
    unfinished = (select(newest.label("id"), runs.c.date)
                  .where(runs.c.kind == "run", runs.c.date < as_of)
                  .group_by(runs.c.date).order_by(runs.c.date))
    if last is not None:
        unfinished = unfinished.where(runs.c.date > last[1])
    for row in connection.execute(unfinished).all():
        status = connection.execute(select(runs.c.status).where(runs.c.id == row.id)).scalar()
        found.append(f"the run for {row.date} (run {row.id}) did not finish (status {status}): "
                     f"once {as_of} has succeeded, {row.date} can no longer be run; "
                     f"`arrears run --as-of {row.date}` first finishes it")
    return found


def _shard_runs(connection: Connection, as_of: date) -> list[Any]:
    """The shards' runs of the day *as_of*."""
    return connection.execute(
        select(runs.c.id, runs.c.shard, runs.c.shards, runs.c.status)
        .where(runs.c.kind == "run", runs.c.date == as_of, runs.c.shards.is_not(None))
        .order_by(runs.c.id)).all()


def _day_status(connection: Connection, as_of: date) -> str:
    last = last_success(connection)
    return "success" if last is not None and last[1] == as_of else "incomplete"


def break_promises(connection: Connection, batch: book.Batch, as_of: date,
                   run_id: int) -> list[HistoryEntry]:
    """Mark the batch's passed promises on still-open invoices as broken (SEMANTICS.md
    §7); their history entries. The batch's decisions already saw them broken; this
    writes it, with the decisions, so that a batch never commits one without the other."""
    if not batch.promises_broken:
        return []
    connection.execute(invoices.update().where(
        invoices.c.id.in_([id_ for id_, *_ in batch.promises_broken])).values(status="broken"))
    return [HistoryEntry(as_of, "status", f"promise to pay by {promised.isoformat()} broken: "
                         "the invoice is still open", account, None, number, None, run_id)
            for _, account, number, promised in batch.promises_broken]


def purge_history(connection: Connection, as_of: date, days: int,
                  shard: Shard | None = None) -> None:
    """Delete history older than *days* (of *shard*'s customers; shard 1 also takes the
    entries of no customer)."""
    old = history.c.date < as_of - timedelta(days=days)
    if shard is not None:
        mine = shard.owns(history.c.customer_id)
        old = and_(old, or_(mine, history.c.customer_id.is_(None)) if shard.index == 1 else mine)
    connection.execute(history.delete().where(old))


def record(pm: pluggy.PluginManager, connection: Connection, decisions: list[Decision],
           context: Context) -> None:
    """Write a batch's history (through ``record_history``) and its step runs."""
    entries = [entry for d in decisions for entry in d.history]
    if entries:
        pm.hook.record_history(entries=entries, context=context)
    insert_rows(connection, step_runs, [row for d in decisions for row in d.step_runs])


def run_customers(shard: Shard | None = None) -> ColumnElement[bool]:
    """SQL condition: the customers a daily run (of *shard*) goes through, those with open
    invoices."""
    customers = book.with_open_invoices()
    return customers if shard is None else and_(customers, shard.owns(book.customers.c.id))


def count_customers(connection: Connection, where: ColumnElement[bool]) -> int:
    """How many customers match *where*: what a progress bar counts down."""
    return connection.execute(
        select(func.count()).select_from(book.customers).where(where)).scalar_one()


@contextlib.contextmanager
def interrupted_if_raising(db: Any, run_id: int, what: str) -> Iterator[None]:
    """Mark run *run_id* ``interrupted`` if the block raises, then raise again: the
    batches done are saved, and the run is there to be run again. Ctrl-C (and SIGTERM,
    which ``arrears`` turns into it) becomes an ArrearsError saying so about *what*."""
    try:
        yield
    except BaseException as error:
        with contextlib.suppress(Exception):
            finish_run(db, run_id, "interrupted")
        if isinstance(error, KeyboardInterrupt):
            raise ArrearsError(f"{what} was interrupted (Ctrl-C or SIGTERM): the batches it "
                               "finished are saved; run again to finish") from None
        raise


def daily_run(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
              wait: bool = True, progress: Callable[[int], None] | None = None,
              waiting: Callable[[], None] | None = None,
              shard: Shard | None = None, workers: int = 1) -> RunResult:
    """The daily run for *as_of* (SEMANTICS.md §6), whole or one *shard* of it.

    Shards of a day run side by side (each holds the run lock shared, and its
    own shard's alone); each is a run of its own in the ``run`` table, and the
    day counts as run once all of its shards succeeded. A day split into N
    shards is finished with shards of N, or by a whole run.
    """
    with db.run_lock(wait=wait, waiting=waiting, shard=shard.index if shard else None):
        with db.begin() as connection:
            db.serialize_runs(connection)
            last = last_success(connection)
            _refuse_before(last, as_of)
            if last is not None and last[1] == as_of:
                return RunResult(last[0], as_of, "already-ran", shard=_name(shard),
                                 day="success" if shard else None)
            if shard is not None:
                found = _shard_runs(connection, as_of)
                other = next((r for r in found if r.shards != shard.count), None)
                if other is not None:
                    raise BadInput(
                        f"--shard: the run for {as_of.isoformat()} is split into "
                        f"{other.shards} shards (run {other.id}): use --shard K/{other.shards}, "
                        "or run without --shard to finish it")
                done = next((r for r in found if r.shard == shard.index
                             and r.status == "success"), None)
                if done is not None:
                    return RunResult(done.id, as_of, "already-ran", shard=str(shard),
                                     day="incomplete")
            # Holding the lock, a run still "running" that could not hold it now was
            # killed: any run, or for a shard, a whole run or this very shard.
            dead = and_(runs.c.kind == "run", runs.c.status == "running")
            if shard is not None:
                dead = and_(dead, or_(runs.c.shards.is_(None), and_(
                    runs.c.shard == shard.index, runs.c.shards == shard.count)))
            connection.execute(runs.update().where(dead).values(status="interrupted"))
            run_id = _start(connection, "run", as_of, shard)
        with db.begin() as connection:
            purge_history(connection, as_of, setup.parameters.history_days, shard)
        result = RunResult(run_id, as_of, "running", shard=_name(shard))
        job = DecideBatch(db, pm, setup, as_of, _rates(db, setup), run_customers(shard),
                          run_id)
        with interrupted_if_raising(db, run_id, f"run {run_id} for {as_of}"):
            try:
                for outcome in decide_all(job, workers=workers, progress=progress):
                    _collect(result, outcome)
            except ArrearsError as error:  # a worker died: what the batches did is saved
                result.status, result.stopped = "interrupted", str(error)
            else:
                result.status = "errors" if result.errors else "success"
        finish_run(db, run_id, result.status)
        if shard is not None:
            with db.read() as connection:
                result.day = _day_status(connection, as_of)
        return result


def warnings(db: Any, pm: pluggy.PluginManager, setup: Setup) -> list[str]:
    """What the plugins say an operator should know before a run (``check_before_run``)."""
    with db.read() as connection:
        return [warning for answer in pm.hook.check_before_run(setup=setup,
                                                               connection=connection)
                for warning in answer or ()]


def _refuse_before(last: tuple[int, date] | None, as_of: date, more: str = "") -> None:
    """BadInput if *as_of* is before the day of the *last* successful run (SEMANTICS §6)."""
    if last is not None and last[1] > as_of:
        raise BadInput(f"--as-of: {as_of.isoformat()} is before the last successful run "
                       f"({last[1].isoformat()}, run {last[0]}){more}")


def _name(shard: Shard | None) -> str | None:
    return None if shard is None else str(shard)


def _collect(result: RunResult, outcome: BatchOutcome) -> None:
    result.actions.extend(outcome.actions)
    result.skipped.extend(outcome.skipped)
    result.errors.extend(outcome.errors)


def _rates(db: Any, setup: Setup) -> Rates:
    with db.read() as connection:
        return Rates.load(connection, setup.parameters.accounting_currency)


def simulate(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
             hierarchy: str | None = None, workers: int = 1) -> RunResult:
    """The actions a run would create on *as_of*; writes nothing. A day before the last
    successful run's is refused, as the run refuses it."""
    if hierarchy is not None and setup.hierarchy(hierarchy) is None:
        raise BadInput(f'--hierarchy: no hierarchy "{hierarchy}" in the setup')
    with db.read() as connection:
        _refuse_before(last_success(connection), as_of,
                       ": a run for that day would be refused, so it would do nothing; "
                       f"`arrears explain CUSTOMER --as-of {as_of.isoformat()}` shows what "
                       "was decided for a customer then")
    result = RunResult(None, as_of, "simulation")
    job = DecideBatch(db, pm, setup, as_of, _rates(db, setup), run_customers(),
                      only=hierarchy)
    for outcome in decide_all(job, workers=workers):
        _collect(result, outcome)
    return result


def explain(db: Any, pm: pluggy.PluginManager, setup: Setup, account: str,
            as_of: date) -> Decision:
    """The decision for one customer on *as_of*, with its trail; writes nothing."""
    with db.read() as connection:
        customer = book.find_customer(connection, account)
        context = Context.of_batch(connection, setup, as_of, [customer])
        decisions = decide_batch(pm, context)
    if account in context.failures:  # what was found up to the failure, and why
        placed = context.assignments.get(account) or Assignment(account, None, "error")
        return Decision(customer, placed, as_of, error=context.failures[account],
                        verdicts=[(i, "not decided: the customer failed")
                                  for i in context.invoices(customer)])
    return decisions[0]
