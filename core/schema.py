"""The database: its tables, as SQLAlchemy Core ``Table``s. Amounts are integer minor
units (``*_minor``).

These are the single definition the migrations are checked against, and what every
statement is built from. Core tables rather than ORM models: arrears reads and writes
set-wise and never maps rows to objects, and importing the ORM cost every command about
0.1 s of start-up.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from arrears.core.types import ExactDecimal

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


# Key/value facts about this database (its id, used in Message-IDs).
meta = Table(
    "meta",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)


# Each loaded setup; the newest one is in force.
setup = Table(
    "setup",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("loaded_at", DateTime, nullable=False),
    Column("source", Text, nullable=False),
    Column("document", Text, nullable=False),
)


customer = Table(
    "customer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account", String(100), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("customer_group", String(100)),
    Column("country", String(100)),
    Column("language", String(35)),
    Column("sales_group", String(100)),
    Column("collections_agent", String(100)),
    Column("letter_sequence", String(100)),
    Column("credit_limit_minor", BigInteger),
    Column("address", Text),  # postal address, multi-line
)


# A customer's contact; *position* keeps import order (first match wins).
contact = Table(
    "contact",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("email", String(320), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("name", String(300)),
    Column("phone", String(50)),
    Column("position", BigInteger, nullable=False),
    UniqueConstraint("customer_id", "email", "purpose"),
)


invoice = Table(
    "invoice",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(100), nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("invoice_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("open_minor", BigInteger, nullable=False),
    Column("status", String(20), nullable=False, default="none"),
    Column("promised_date", Date),
    Index("ix_invoice_customer_due", "customer_id", "due_date"),
    # The open invoices alone (what a daily run reads), however many are paid.
    Index("ix_invoice_open", "customer_id", "due_date",
          sqlite_where=text("open_minor > 0"), postgresql_where=text("open_minor > 0")),
)


# A payment imported against an invoice; its key makes re-imports idempotent.
payment = Table(
    "payment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoice.id"), nullable=False, index=True),
    Column("date", Date, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reference", String(100), nullable=False, default=""),
    UniqueConstraint("invoice_id", "date", "amount_minor", "reference"),
)


# Units of accounting currency per unit of *currency*, valid from *date*.
rate = Table(
    "rate",
    metadata,
    Column("currency", String(3), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("rate", ExactDecimal, nullable=False),
)


manual_assignment = Table(
    "manual_assignment",
    metadata,
    Column("customer_id", Integer, ForeignKey("customer.id"), primary_key=True),
    Column("hierarchy", String(100), nullable=False),
    Column("assigned_at", DateTime, nullable=False),
)


# One daily run (kind ``run``) or standalone letter run (kind ``letters``).
#
# A shard of a daily run (``run --shard K/N``) is a row with *shard* K of
# *shards* N; the day's run succeeded when all N shards did.
run = Table(
    "run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("date", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("shard", Integer),
    Column("shards", Integer),
    Index("ix_run_kind_date", "kind", "date"),
)


# Every decision: action, skipped, excluded, failed, status. A log: it names its run,
# customer and invoice by id without foreign keys, whose checks were half of what a
# run's writes cost PostgreSQL (docs/decisions.md).
history = Table(
    "history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer),
    Column("date", Date, nullable=False),
    Column("hierarchy", String(100)),
    Column("customer_id", Integer),
    Column("invoice_id", Integer),
    Column("step", String(300)),
    Column("kind", String(20), nullable=False),
    Column("action", String(50)),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_history_customer", "customer_id"),
    Index("ix_history_date", "date"),
)


# A step done: the key (invoice, hierarchy, step) means it never runs twice.
step_run = Table(
    "step_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoice.id"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("hierarchy", String(100), nullable=False),
    Column("step", String(300), nullable=False),
    Column("pre_dunning", Boolean, nullable=False, default=False),
    Column("run_id", Integer, ForeignKey("run.id"), nullable=False),
    Column("date", Date, nullable=False),
    UniqueConstraint("invoice_id", "hierarchy", "step"),
)


activity = Table(
    "activity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("invoice_id", Integer, ForeignKey("invoice.id")),
    Column("run_id", Integer, ForeignKey("run.id")),
    Column("hierarchy", String(100)),
    Column("step", String(300)),
    Column("template", String(100)),
    Column("type", String(100), nullable=False),
    Column("purpose", Text, nullable=False, default=""),
    Column("details", Text, nullable=False, default=""),
    Column("agent", String(100)),
    Column("due_date", Date, nullable=False),
    Column("status", String(20), nullable=False, default="open"),
    Column("created", Date, nullable=False),
    Column("closed", Date),
)


# A posted collection letter; *position* is the code's place in its sequence.
letter = Table(
    "letter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("run.id")),
    Column("hierarchy", String(100)),
    Column("step", String(300)),
    Column("sequence", String(100), nullable=False),
    Column("code", String(100), nullable=False),
    Column("position", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False, default=0),
    Index("ix_letter_customer_date", "customer_id", "date"),
)


# An invoice listed on a letter, with its open amount on the posting date.
letter_invoice = Table(
    "letter_invoice",
    metadata,
    Column("letter_id", Integer, ForeignKey("letter.id"), primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoice.id"), primary_key=True, index=True),
    Column("open_minor", BigInteger, nullable=False),
)


# A message waiting for, or past, delivery. *dedupe_key* makes it unique.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(400), nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("invoice_id", Integer, ForeignKey("invoice.id")),
    Column("run_id", Integer, ForeignKey("run.id")),
    Column("hierarchy", String(100)),
    Column("step", String(300)),
    Column("channel", String(50), nullable=False),
    Column("template", String(100)),
    Column("language", String(35)),
    Column("sender", Text),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("body_html", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False, default="queued"),
    Column("created", DateTime, nullable=False),
    Column("sent", DateTime),
    Column("message_id", String(400)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("ix_outbox_status", "status"),
)



# --- payment prediction (SEMANTICS.md §5; arrears.plugins.prediction, docs/prediction.md)

# A payment model learned by ``arrears predict train``; the newest one is in force.
#
# *as_of* is the training date: only what was known before it was learned from.
# *model* holds the features and coefficients, *quality* the figures measured
# on the newest invoices held out (JSON both).
payment_model = Table(
    "payment_model",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("trained_at", DateTime, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("quality", Text, nullable=False),
    Column("model", Text, nullable=False),
)


# What a prediction made for an invoice (an activity): the key means once per invoice.
prediction_action = Table(
    "prediction_action",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoice.id"), nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False, index=True),
    Column("hierarchy", String(100), nullable=False),
    Column("run_id", Integer, ForeignKey("run.id")),
    Column("date", Date, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("probability", ExactDecimal, nullable=False),
    Column("model", String(200)),  # what predicted it
)
