"""The database: SQLAlchemy 2 models. Amounts are integer minor units (``*_minor``).

Bulk paths use ``Model.__table__`` with Core statements; the ORM classes are
the single definition the migrations are checked against.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arrears.core.types import ExactDecimal

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Meta(Base):
    """Key/value facts about this database (its id, used in Message-IDs)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SetupDocument(Base):
    """Each loaded setup; the newest one is in force."""

    __tablename__ = "setup"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str] = mapped_column(String(3))
    customer_group: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(35))
    sales_group: Mapped[str | None] = mapped_column(String(100))
    collections_agent: Mapped[str | None] = mapped_column(String(100))
    letter_sequence: Mapped[str | None] = mapped_column(String(100))
    credit_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(Text)  # postal address, multi-line


class Contact(Base):
    """A customer's contact; *position* keeps import order (first match wins)."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("customer_id", "email", "purpose"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    purpose: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(BigInteger)


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_customer_due", "customer_id", "due_date"),
        # The open invoices alone (what a daily run reads), however many are paid.
        Index("ix_invoice_open", "customer_id", "due_date",
              sqlite_where=text("open_minor > 0"), postgresql_where=text("open_minor > 0")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    invoice_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    open_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="none")
    promised_date: Mapped[date | None] = mapped_column(Date)


class Payment(Base):
    """A payment imported against an invoice; its key makes re-imports idempotent."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("invoice_id", "date", "amount_minor", "reference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(100), default="")


class Rate(Base):
    """Units of accounting currency per unit of *currency*, valid from *date*."""

    __tablename__ = "rate"
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    rate: Mapped[Decimal] = mapped_column(ExactDecimal)


class ManualAssignment(Base):
    __tablename__ = "manual_assignment"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    hierarchy: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime] = mapped_column(DateTime)


class Run(Base):
    """One daily run (kind ``run``) or standalone letter run (kind ``letters``).

    A shard of a daily run (``run --shard K/N``) is a row with *shard* K of
    *shards* N; the day's run succeeded when all N shards did.
    """

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_kind_date", "kind", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    shard: Mapped[int | None] = mapped_column(Integer)
    shards: Mapped[int | None] = mapped_column(Integer)


class History(Base):
    """Every decision: action, skipped, excluded, failed, status."""

    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_customer", "customer_id"),
        Index("ix_history_date", "date"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    date: Mapped[date] = mapped_column(Date)
    hierarchy: Mapped[str | None] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    step: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    action: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text, default="")


class StepRun(Base):
    """A step done: the key (invoice, hierarchy, step) means it never runs twice."""

    __tablename__ = "step_run"
    __table_args__ = (UniqueConstraint("invoice_id", "hierarchy", "step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    hierarchy: Mapped[str] = mapped_column(String(100))
    step: Mapped[str] = mapped_column(String(300))
    pre_dunning: Mapped[bool] = mapped_column(default=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"))
    date: Mapped[date] = mapped_column(Date)


class Activity(Base):
    __tablename__ = "activity"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    hierarchy: Mapped[str | None] = mapped_column(String(100))
    step: Mapped[str | None] = mapped_column(String(300))
    template: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")
    agent: Mapped[str | None] = mapped_column(String(100))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created: Mapped[date] = mapped_column(Date)
    closed: Mapped[date | None] = mapped_column(Date)


class Letter(Base):
    """A posted collection letter; *position* is the code's place in its sequence."""

    __tablename__ = "letter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    hierarchy: Mapped[str | None] = mapped_column(String(100))
    step: Mapped[str | None] = mapped_column(String(300))
    sequence: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class LetterInvoice(Base):
    """An invoice listed on a letter, with its open amount on the posting date."""

    __tablename__ = "letter_invoice"
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id"), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True, index=True)
    open_minor: Mapped[int] = mapped_column(BigInteger)


class OutboxMessage(Base):
    """A message waiting for, or past, delivery. *dedupe_key* makes it unique."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    hierarchy: Mapped[str | None] = mapped_column(String(100))
    step: Mapped[str | None] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(50))
    template: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(35))
    sender: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created: Mapped[datetime] = mapped_column(DateTime)
    sent: Mapped[datetime | None] = mapped_column(DateTime)
    message_id: Mapped[str | None] = mapped_column(String(400))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


# --- payment prediction (SEMANTICS.md §5; arrears.plugins.prediction, docs/prediction.md)


class PaymentModel(Base):
    """A payment model learned by ``arrears predict train``; the newest one is in force.

    *as_of* is the training date: only what was known before it was learned from.
    *model* holds the features and coefficients, *quality* the figures measured
    on the newest invoices held out (JSON both).
    """

    __tablename__ = "payment_model"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    trained_at: Mapped[datetime] = mapped_column(DateTime)
    as_of: Mapped[date] = mapped_column(Date)
    samples: Mapped[int] = mapped_column(Integer)
    quality: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)


class PredictionAction(Base):
    """What a prediction made for an invoice (an activity): the key means once per invoice."""

    __tablename__ = "prediction_action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    hierarchy: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    date: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))
    probability: Mapped[Decimal] = mapped_column(ExactDecimal)
    model: Mapped[str | None] = mapped_column(String(200))  # what predicted it
