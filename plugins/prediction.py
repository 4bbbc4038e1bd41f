"""Payment prediction (SEMANTICS.md §5, docs/prediction.md).

- ``predict_payment``: on time, late or very late, from a logistic regression
  (:mod:`arrears.plugins.logistic`) learned from the book's paid invoices by
  ``arrears predict train`` and stored in the database (``payment_model``).
- ``act_on_prediction``: for a hierarchy with ``use_prediction``, once per
  invoice, an activity from ``parameters.prediction_activity`` for an invoice
  predicted late or very late; ``prediction_action`` remembers the invoices.
- ``arrears predict`` lists open invoices with their prediction;
  ``arrears predict train`` learns and stores the model.

How late an invoice was paid is read from its payments: an invoice is paid
when its open amount is zero and it has payments, on the date of its last
payment (when its open amount reached zero). An invoice closed without a
payment (its open amount set to zero by the invoices import: a credit note, a
write-off) tells nothing about paying and is left out.

Each invoice is described as of a date (its invoice date when learning, the run
date when predicting) by what was known on that date: how late its customer
paid the invoices paid before it, how many of the customer's invoices were
overdue and unpaid then, its amount relative to the customer's usual amount,
its payment terms, the customer's tenure, and its currency.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
import click
import pluggy
from sqlalchemy import Connection, func, select

from arrears.core import book, hookimpl, money, output, schema
from arrears.core import cli as cli_
from arrears.core import run as run_
from arrears.core.clock import utcnow
from arrears.core.context import Context
from arrears.core.domain import (
    Action,
    Customer,
    Hierarchy,
    Invoice,
    Outcome,
    Parameters,
    Prediction,
    Setup,
    Step,
)
from arrears.core.errors import ArrearsError
from arrears.plugins import activities, logistic

KIND = "logistic"
STEP = "prediction"
"""The step of prediction actions in the run's actions, the history and the activities."""
L2 = 1.0
THRESHOLD = 0.5
MIN_CLASS = 5
"""A model needs at least this many late and on-time invoices to learn from."""
HOLD_OUT = 0.2
"""The newest share of invoices that measures the model's quality."""
MAX_CURRENCIES = 8
CLIP_DAYS = (-30, 90)
RECENT = 5

FEATURES = (
    "intercept",
    "no_history",           # the customer had paid no invoice yet
    "paid_invoices",        # log(1 + invoices the customer paid)
    "mean_days_late",       # their mean days late (clipped to -30…90) / 30
    "share_late",           # the share paid late
    "recent_share_late",    # the share paid late of the last 5 paid
    "last_late",            # the last one paid was late
    "spread_days_late",     # the standard deviation of days late / 30
    "overdue_unpaid",       # log(1 + the customer's other invoices overdue and unpaid)
    "relative_amount",      # log(amount / the customer's mean amount in its currency)
    "terms",                # days from invoice date to due date / 30
    "tenure",               # log(1 + years since the customer's first invoice)
)


# --- what the model reads ---------------------------------------------------------------


@attrs.frozen
class Record:
    """One invoice as the model sees it: *paid* is the date its open amount reached
    zero (its last payment), or None while it is open."""

    number: str
    invoice_date: date
    due_date: date
    amount: float  # minor units of *currency*
    currency: str
    paid: date | None = None

    @property
    def days_late(self) -> int:
        assert self.paid is not None
        return (self.paid - self.due_date).days

    @classmethod
    def from_invoice(cls, invoice: Invoice) -> Record:
        return cls(invoice.number, invoice.invoice_date, invoice.due_date,
                   float(money.to_minor(invoice.amount, invoice.currency)), invoice.currency)


def load_records(connection: Connection,
                 customer_ids: Collection[int] | None = None) -> dict[int, list[Record]]:
    """Every invoice of the customers (all when None), by customer id, oldest first;
    invoices closed without a payment are left out."""
    invoices, payments = schema.invoice, schema.payment
    query = (select(invoices.c.customer_id, invoices.c.number, invoices.c.invoice_date,
                    invoices.c.due_date, invoices.c.amount_minor, invoices.c.open_minor,
                    invoices.c.currency, func.max(payments.c.date).label("last_paid"),
                    func.count(payments.c.id).label("payments"))
             .outerjoin(payments, payments.c.invoice_id == invoices.c.id)
             .group_by(invoices.c.id)
             .order_by(invoices.c.customer_id, invoices.c.invoice_date, invoices.c.number))
    if customer_ids is not None:
        query = query.where(invoices.c.customer_id.in_(list(customer_ids)))
    found: dict[int, list[Record]] = {}
    for row in connection.execute(query):
        if row.open_minor == 0 and row.payments == 0:
            continue  # closed without a payment: nothing to learn about paying
        found.setdefault(row.customer_id, []).append(Record(
            row.number, row.invoice_date, row.due_date, float(row.amount_minor), row.currency,
            row.last_paid if row.open_minor == 0 else None))
    return found


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def features(target: Record, records: Iterable[Record], as_of: date,
             currencies: Sequence[str]) -> list[float]:
    """*target* described by what was known on *as_of* (see :data:`FEATURES`, then one
    indicator per currency of *currencies*). *records* are the customer's invoices;
    *target* itself and invoices issued on or after *as_of* are ignored."""
    paid: list[tuple[date, date, int]] = []
    overdue = 0
    amounts: list[float] = []
    first = target.invoice_date
    for record in records:
        if record.number == target.number or record.invoice_date >= as_of:
            continue
        first = min(first, record.invoice_date)
        if record.paid is not None and record.paid < as_of:
            paid.append((record.paid, record.due_date, record.days_late))
        elif record.due_date < as_of:
            overdue += 1
        if record.currency == target.currency:
            amounts.append(record.amount)
    count = len(paid)
    mean = share = recent = last = spread = 0.0
    if count:
        paid.sort()
        days = [_clip(d, *CLIP_DAYS) for _, _, d in paid]
        mean = math.fsum(days) / count / 30
        share = sum(1 for d in days if d > 0) / count
        latest = days[-RECENT:]
        recent = sum(1 for d in latest if d > 0) / len(latest)
        last = 1.0 if days[-1] > 0 else 0.0
        spread = statistics.pstdev(days) / 30 if count > 1 else 0.0
    relative = 0.0
    usual = math.fsum(amounts) / len(amounts) if amounts else 0.0
    if usual > 0 and target.amount > 0:
        relative = _clip(math.log(target.amount / usual), -3.0, 3.0)
    tenure = math.log1p(max((as_of - first).days, 0) / 365)
    return [1.0, 0.0 if count else 1.0, math.log1p(count), mean, share, recent, last, spread,
            math.log1p(overdue), relative, (target.due_date - target.invoice_date).days / 30,
            tenure, *(1.0 if target.currency == c else 0.0 for c in currencies)]


# --- the model ----------------------------------------------------------------------------


@attrs.frozen
class Model:
    """A stored payment model: the weights of "late" and, when there was enough to learn
    from, of "very late" (more than *very_late_days* days late)."""

    id: int | None
    as_of: date
    samples: int
    paid: int
    very_late_days: int
    currencies: tuple[str, ...]
    late: tuple[float, ...]
    very_late: tuple[float, ...] | None
    quality: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"payment model {self.id} of {self.as_of.isoformat()}"

    @property
    def names(self) -> list[str]:
        return [*FEATURES, *(f"currency_{c}" for c in self.currencies)]

    def predict(self, target: Record, records: Iterable[Record], as_of: date) -> Prediction:
        row = features(target, records, as_of, self.currencies)
        late = logistic.probability(self.late, row)
        if late < THRESHOLD:
            return Prediction("on_time", round(1.0 - late, 4), self.label)
        if self.very_late is not None:
            very = logistic.probability(self.very_late, row)
            if very >= THRESHOLD:
                return Prediction("very_late", round(very, 4), self.label)
        return Prediction("late", round(late, 4), self.label)

    def document(self) -> str:
        return json.dumps({
            "features": self.names, "currencies": list(self.currencies),
            "very_late_days": self.very_late_days, "l2": L2, "threshold": THRESHOLD,
            "late": list(self.late),
            "very_late": list(self.very_late) if self.very_late is not None else None})


def load_model(connection: Connection) -> Model | None:
    """The newest stored model, or None: none trained yet, or only by a version of arrears
    with other features (which counts as none: train again)."""
    table = schema.payment_model
    row = connection.execute(select(table).where(table.c.kind == KIND)
                             .order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    stored = json.loads(row.model)
    quality = json.loads(row.quality)
    model = Model(row.id, row.as_of, row.samples, int(quality.get("paid", row.samples)),
                  int(stored["very_late_days"]), tuple(stored["currencies"]),
                  tuple(stored["late"]),
                  tuple(stored["very_late"]) if stored["very_late"] is not None else None,
                  quality)
    return model if stored["features"] == model.names else None


def usable(model: Model | None, parameters: Parameters) -> str | None:
    """Why *model* may not predict (no model, too little history), or None when it may."""
    if model is None:
        return "no payment model yet: `arrears predict train` learns one from the paid invoices"
    needed = parameters.prediction_min_paid_invoices
    if model.paid < needed:
        return (f"{model.label} learned from {model.paid} paid invoices, fewer than "
                f"parameters.prediction_min_paid_invoices ({needed}): nothing is predicted")
    auc, least = model.quality.get("roc_auc"), parameters.prediction_min_roc_auc
    if auc is not None and auc < least:
        return (f"{model.label} ranks held-out invoices with a ROC AUC of {auc}, below "
                f"parameters.prediction_min_roc_auc ({least}): it would guess, so nothing is "
                "predicted")
    return None


# --- learning ----------------------------------------------------------------------------


@attrs.frozen
class TrainingSet:
    """The invoices learned from, as of a date, oldest first: their feature rows, whether
    each was late, and very late (None where not known yet)."""

    as_of: date
    currencies: tuple[str, ...]
    numbers: list[str]
    rows: list[list[float]]
    late: list[int]
    very_late: list[int | None]
    paid: int

    @property
    def open_late(self) -> int:
        return len(self.rows) - self.paid


def training_set(records: Mapping[int, Sequence[Record]], as_of: date,
                 very_late_days: int) -> TrainingSet:
    """The invoices issued before *as_of* whose outcome was known on it: paid before it,
    or still unpaid past their due date (late for sure, and very late once more than
    *very_late_days* days have passed). Each is described as of its invoice date."""
    known: list[tuple[Record, Sequence[Record], int, int | None, bool]] = []
    for customer_records in records.values():
        for target in customer_records:
            if target.invoice_date >= as_of:
                continue
            if target.paid is not None and target.paid < as_of:
                days = target.days_late
                known.append((target, customer_records, int(days > 0),
                              int(days > very_late_days), True))
            elif target.due_date < as_of:
                overdue = (as_of - target.due_date).days
                known.append((target, customer_records, 1,
                              1 if overdue > very_late_days else None, False))
    known.sort(key=lambda k: (k[0].invoice_date, k[0].number))
    counts: dict[str, int] = {}
    for target, *_ in known:
        counts[target.currency] = counts.get(target.currency, 0) + 1
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    currencies = tuple(sorted(ranked[1:MAX_CURRENCIES + 1]))  # the commonest is the baseline
    return TrainingSet(
        as_of, currencies, [t.number for t, *_ in known],
        [features(t, rs, t.invoice_date, currencies) for t, rs, *_ in known],
        [late for _, _, late, _, _ in known], [very for _, _, _, very, _ in known],
        sum(1 for *_, paid in known if paid))


def _classes(labels: Sequence[int | None]) -> tuple[int, int]:
    return sum(1 for y in labels if y == 1), sum(1 for y in labels if y == 0)


def measure(data: TrainingSet) -> dict[str, Any]:
    """Quality on the newest invoices held out: the model learned from the older ones
    ranks and flags the newer ones (ROC AUC, precision and recall of "late")."""
    cut = int(len(data.rows) * (1 - HOLD_OUT))
    train, test = slice(0, cut), slice(cut, None)
    late, on_time = _classes(data.late[train])
    if min(late, on_time) < MIN_CLASS or not data.rows[test]:
        return {"tested": 0, "roc_auc": None, "precision": None, "recall": None}
    weights = logistic.fit(data.rows[train], data.late[train], l2=L2)
    scores = [logistic.probability(weights, row) for row in data.rows[test]]
    labels = data.late[test]
    precision, recall = logistic.precision_recall([s >= THRESHOLD for s in scores], labels)
    auc = logistic.roc_auc(scores, labels)
    return {"tested": len(labels), "late_share": _round(sum(labels) / len(labels)),
            "roc_auc": _round(auc), "precision": _round(precision), "recall": _round(recall)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class TooLittleHistory(ArrearsError):
    """Not enough paid invoices to learn from: nothing is learned, nothing predicted."""


def learn(data: TrainingSet, parameters: Parameters) -> Model:
    """Fit the model to *data*; TooLittleHistory when it is too thin to learn from."""
    needed = parameters.prediction_min_paid_invoices
    before = f"before {data.as_of.isoformat()}"
    if data.paid < needed:
        raise TooLittleHistory(
            f"too little payment history to learn from: {data.paid} paid invoices {before}, "
            f"at least {needed} needed (parameters.prediction_min_paid_invoices): "
            "nothing is predicted")
    late, on_time = _classes(data.late)
    if min(late, on_time) < MIN_CLASS:
        raise TooLittleHistory(
            f"too little payment history to learn from: of {len(data.late)} invoices {before}, "
            f"{late} were paid late and {on_time} on time; at least {MIN_CLASS} of each "
            "are needed: nothing is predicted")
    weights = logistic.fit(data.rows, data.late, l2=L2)
    known = [(row, y) for row, y in zip(data.rows, data.very_late, strict=True) if y is not None]
    very = None
    if min(_classes([y for _, y in known])) >= MIN_CLASS:
        very = tuple(logistic.fit([row for row, _ in known], [int(y) for _, y in known],
                                  l2=L2))
    quality = {"paid": data.paid, "open_late": data.open_late, "late": late,
               "very_late": sum(1 for y in data.very_late if y == 1), **measure(data)}
    return Model(None, data.as_of, len(data.rows), data.paid,
                 parameters.prediction_very_late_days, data.currencies, tuple(weights), very,
                 quality)


def train(connection: Connection, parameters: Parameters, as_of: date) -> Model:
    """Learn from the book as it was known before *as_of* and store the model (in the
    caller's transaction); the stored model, with its id."""
    data = training_set(load_records(connection), as_of, parameters.prediction_very_late_days)
    model = learn(data, parameters)
    table = schema.payment_model
    model_id = connection.execute(table.insert().values(
        kind=KIND, trained_at=utcnow(), as_of=as_of, samples=model.samples,
        quality=json.dumps(dict(model.quality)), model=model.document())).inserted_primary_key[0]
    return attrs.evolve(model, id=model_id)


# --- the hooks -----------------------------------------------------------------------------


@attrs.frozen
class _Known:
    """What the batch's predictions need, read once per batch."""

    model: Model | None
    records: dict[str, list[Record]]


def _known(context: Context) -> _Known:
    def load() -> _Known:
        assert context.connection is not None
        model = load_model(context.connection)
        if usable(model, context.setup.parameters) is not None:
            return _Known(None, {})
        customers = {c.id: c.account for c in context.batch.customers}
        records = load_records(context.connection, customers)
        return _Known(model, {customers[i]: found for i, found in records.items()})

    return context.memo("prediction.model", load)


def _acted(context: Context) -> frozenset[str]:
    """The batch's open invoices that a prediction already acted on."""
    def load() -> frozenset[str]:
        if context.connection is None:
            return frozenset()
        table, invoices = schema.prediction_action, schema.invoice
        ids = list(context.batch.invoice_ids.values())
        return frozenset(context.connection.execute(
            select(invoices.c.number).join(table, table.c.invoice_id == invoices.c.id)
            .where(invoices.c.id.in_(ids))).scalars())

    return context.memo("prediction.acted", load)


@hookimpl
def check_before_run(setup: Setup, connection: Connection) -> list[str] | None:
    """A hierarchy with use_prediction while no usable model is stored predicts nothing:
    say so, rather than let the setting look on."""
    using = [h.id for h in setup.hierarchies if h.use_prediction]
    if not using:
        return None
    reason = usable(load_model(connection), setup.parameters)
    if reason is None:
        return None
    return [f"use_prediction (hierarchy {', '.join(using)}) creates no prediction activity: "
            f"{reason}"]


@hookimpl(trylast=True)
def predict_payment(invoice: Invoice, customer: Customer, context: Context) -> Prediction | None:
    if context.connection is None or context.batch is None:
        return None
    known = _known(context)
    if known.model is None:
        return None
    return known.model.predict(Record.from_invoice(invoice),
                               known.records.get(customer.account, []), context.as_of)


def _outcome_text(prediction: Prediction) -> str:
    return (f"predicted {prediction.outcome.replace('_', ' ')} with probability "
            f"{prediction.probability:.2f}" + (f" ({prediction.model})" if prediction.model
                                               else ""))


@hookimpl(trylast=True)
def act_on_prediction(prediction: Prediction, invoice: Invoice, customer: Customer,
                      hierarchy: Hierarchy, context: Context) -> tuple[Action, Outcome] | None:
    """Once per invoice predicted late or very late: an activity from
    ``parameters.prediction_activity``, remembered in ``prediction_action``."""
    if not prediction.late or context.batch is None or invoice.number in _acted(context):
        return None
    template_id = context.setup.parameters.prediction_activity
    action = Action(customer.account, hierarchy.id, STEP, "activity", invoice.number,
                    context.as_of, template_id)
    template = context.setup.template(activities.SECTION, template_id) if template_id else None
    if template is None:
        return action, Outcome(False, f"parameters.prediction_activity: no "
                               f'{activities.SECTION} "{template_id}"')
    step = Step(STEP, "activity", "before", 0, template.id)  # what templates see as ``step``
    outcome = activities.create_from_template(template, customer, invoice, context,
                                              hierarchy=hierarchy, step=step)
    if not outcome.done:
        return action, outcome
    context.store(schema.prediction_action, invoice_id=invoice.id,
                  customer_id=customer.id, hierarchy=hierarchy.id, run_id=context.run_id,
                  date=context.as_of, outcome=prediction.outcome,
                  probability=Decimal(str(round(prediction.probability, 4))),
                  model=prediction.model[:200] if prediction.model else None)
    target = f" to {outcome.recipient}" if outcome.recipient else ""
    return action, attrs.evolve(
        outcome, reason=f"activity {template.id}{target}: {_outcome_text(prediction)}",
        details={**outcome.details, f"prediction {invoice.number}": _outcome_text(prediction)})


# --- arrears predict ------------------------------------------------------------------------


@attrs.frozen
class PredictedInvoice:
    """One line of ``arrears predict``."""

    customer: str
    invoice: str
    due_date: date
    open_amount: Decimal
    currency: str
    prediction: str | None
    probability: float | None
    model: str | None


@attrs.define
class Predictions:
    """``arrears predict --format json``."""

    date: date
    model: dict[str, Any] | None
    note: str | None
    invoices: list[PredictedInvoice] = attrs.Factory(list)


def model_summary(model: Model) -> dict[str, Any]:
    """The stored model as ``predict`` and ``predict train`` show it."""
    coefficients = {"late": dict(zip(model.names, model.late, strict=True))}
    if model.very_late is not None:
        coefficients["very_late"] = dict(zip(model.names, model.very_late, strict=True))
    return {"id": model.id, "trained": model.as_of, "samples": model.samples,
            "paid": model.paid, "very_late_days": model.very_late_days,
            "quality": dict(model.quality),
            "coefficients": {kind: {name: round(w, 4) for name, w in weights.items()}
                             for kind, weights in coefficients.items()}}


def predict_open(db: Any, pm: pluggy.PluginManager, setup: Setup, as_of: date, *,
                 customer: str | None = None) -> list[PredictedInvoice]:
    """Every open invoice (of *customer*) with what ``predict_payment`` expects of it."""
    where = book.with_open_invoices()
    if customer is not None:
        where = where & (book.customers.c.account == customer)
    found: list[PredictedInvoice] = []

    def work(context: Context) -> None:
        for client in context.batch.customers:
            for invoice in context.invoices(client):
                answer = pm.hook.predict_payment(invoice=invoice, customer=client,
                                                 context=context)
                found.append(PredictedInvoice(
                    client.account, invoice.number, invoice.due_date, invoice.open_amount,
                    invoice.currency, answer.outcome if answer else None,
                    answer.probability if answer else None, answer.model if answer else None))

    run_.each_batch(db, setup, as_of, where, work, run_id=None, simulate=True)
    return found


def _predictions_text(result: Predictions) -> str:
    return output.table(
        [(p.customer, p.invoice, p.due_date, f"{p.open_amount} {p.currency}",
          (p.prediction or "").replace("_", " "),
          "" if p.probability is None else f"{p.probability:.2f}") for p in result.invoices],
        ["customer", "invoice", "due", "open", "prediction", "probability"])


def _trained_text(summary: dict[str, Any]) -> str:
    quality = summary["quality"]

    def show(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [f"payment model {summary['id']} of {summary['trained']}: learned from "
             f"{summary['samples']} invoices ({quality['paid']} paid, {quality['open_late']} "
             f"unpaid past due); {quality['late']} late, {quality['very_late']} more than "
             f"{summary['very_late_days']} days late",
             f"held out: the newest {quality['tested']} invoices: ROC AUC "
             f"{show(quality['roc_auc'])}, precision {show(quality['precision'])}, recall "
             f"{show(quality['recall'])} of \"late\""]
    if "very_late" not in summary["coefficients"]:
        lines.append("too few very late invoices to learn from: predictions say late, "
                     "never very late")
    return "\n".join(lines)


@click.group("predict", invoke_without_command=True)
@click.option("--customer", default=None, help="Only this customer's invoices.")
@cli_.as_of_option(meaning="The date to predict on")
@cli_.format_option("text", "json")
@click.pass_context
def predict(ctx: click.Context, customer: str | None, as_of: datetime | None,
            fmt: str) -> None:
    """Open invoices with their predicted payment: on time, late or very late, and how
    likely; `predict train` learns the model."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: cli_.Runtime = ctx.obj
    db = runtime.database()
    with db.read() as connection:
        setup_ = runtime.setup(connection)
        if customer is not None:
            book.find_customer(connection, customer, given="--customer")
        model = load_model(connection)
    day = cli_.as_of_date(setup_, as_of)
    result = Predictions(day, model_summary(model) if model else None,
                         usable(model, setup_.parameters))
    result.invoices = predict_open(db, runtime.pm, setup_, day, customer=customer)
    if result.note and not any(p.prediction for p in result.invoices):
        click.echo(f"predict: {result.note}", err=True)
    cli_.emit(result, fmt, _predictions_text)


@predict.command("train")
@cli_.as_of_option(meaning="Learn from what was known before this date")
@cli_.format_option("text", "json")
@cli_.pass_runtime
def train_command(runtime: cli_.Runtime, as_of: datetime | None, fmt: str) -> None:
    """Learn the payment model from the paid invoices, and store it."""
    db = runtime.database()
    with db.begin() as connection:
        setup_ = runtime.setup(connection)
        model = train(connection, setup_.parameters, cli_.as_of_date(setup_, as_of))
    cli_.emit(model_summary(model), fmt, _trained_text)
    if (unusable := usable(model, setup_.parameters)) is not None:
        click.echo(f"warning: {unusable}", err=True)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(predict)
