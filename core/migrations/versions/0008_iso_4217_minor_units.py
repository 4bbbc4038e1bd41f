"""ISO 4217 minor units: amounts in 14 currencies stored with CLDR's display digits

Babel's CLDR data gave AFN, ALL, IQD, IRR, KPW, LAK, LBP, MGA, MMK, RSD, SLL, SOS, SYP
and YER no decimals, where ISO 4217 (and the ledgers that invoice in them) give 2 (IQD
3): an RSD invoice of 1234.56 could not be imported. arrears now holds ISO 4217's
digits itself (money.decimals); the amounts stored in these currencies are rescaled to
keep their value: 1234 RSD, stored as 1234 units, becomes 123400 hundredths.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 12:20:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# currency -> the factor between the new minor units and the old ones
RESCALED = {**dict.fromkeys(("AFN", "ALL", "IRR", "KPW", "LAK", "LBP", "MGA", "MMK", "RSD",
                             "SLL", "SOS", "SYP", "YER"), 100), "IQD": 1000}
LARGEST = 2**63 - 1

# (table, its amount columns, the SQL that names each row's currency)
AMOUNTS = (
    ("invoice", ("amount_minor", "open_minor"), "currency"),
    ("payment", ("amount_minor",),
     "(SELECT invoice.currency FROM invoice WHERE invoice.id = payment.invoice_id)"),
    ("customer", ("credit_limit_minor",), "currency"),
    ("letter", ("total_minor", "fee_minor"), "currency"),
    ("letter_invoice", ("open_minor",),
     "(SELECT invoice.currency FROM invoice WHERE invoice.id = letter_invoice.invoice_id)"),
)


def _rescale(multiply: bool) -> None:
    connection = op.get_bind()
    for currency, factor in RESCALED.items():
        for table, columns, currency_of in AMOUNTS:
            if multiply:  # a 64-bit column holds it: refuse the upgrade rather than wrap
                too_large = connection.execute(sa.text(
                    f"SELECT count(*) FROM {table} WHERE {currency_of} = :currency AND ("
                    + " OR ".join(f"abs({c}) > :limit" for c in columns) + ")"),
                    {"currency": currency, "limit": LARGEST // factor}).scalar()
                if too_large:
                    raise RuntimeError(
                        f"{table}: {too_large} amounts in {currency} are too large to keep "
                        "with its ISO 4217 decimals")
            change = ", ".join(f"{c} = {c} * {factor}" if multiply else f"{c} = {c} / {factor}"
                               for c in columns)
            connection.execute(sa.text(f"UPDATE {table} SET {change} WHERE {currency_of} = "
                                       ":currency"), {"currency": currency})


def upgrade() -> None:
    _rescale(multiply=True)


def downgrade() -> None:
    _rescale(multiply=False)
