"""Reading the book set-wise: customers in batches, their open amounts, one customer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from arrears.core import money, schema
from arrears.core.domain import Customer
from arrears.core.errors import BadInput

customers = schema.Customer.__table__
invoices = schema.Invoice.__table__

BATCH = 2000


def customer_from_row(row: Any) -> Customer:
    limit = row.credit_limit_minor
    return Customer(
        account=row.account, name=row.name, currency=row.currency,
        customer_group=row.customer_group, country=row.country, language=row.language,
        sales_group=row.sales_group, collections_agent=row.collections_agent,
        letter_sequence=row.letter_sequence,
        credit_limit=None if limit is None else money.from_minor(limit, row.currency),
        id=row.id,
    )


def iter_customers(connection: Connection, batch: int = BATCH) -> Iterator[list[Customer]]:
    """Every customer, in batches ordered by id (keyset pagination: memory stays flat)."""
    last = 0
    while True:
        rows = connection.execute(
            select(customers).where(customers.c.id > last).order_by(customers.c.id).limit(batch)
        ).all()
        if not rows:
            return
        yield [customer_from_row(row) for row in rows]
        last = rows[-1].id


def find_customer(connection: Connection, account: str) -> Customer:
    """The customer with *account*; BadInput naming it if there is none."""
    row = connection.execute(select(customers).where(customers.c.account == account)).first()
    if row is None:
        raise BadInput(f'CUSTOMER: no customer "{account}"')
    return customer_from_row(row)


def open_amounts(connection: Connection,
                 batch: Sequence[Customer]) -> dict[str, dict[str, Decimal]]:
    """Open amounts of *batch*'s customers by currency: ``{account: {currency: amount}}``."""
    by_id = {c.id: c.account for c in batch}
    query = (
        select(invoices.c.customer_id, invoices.c.currency, func.sum(invoices.c.open_minor))
        .where(invoices.c.customer_id.in_(by_id), invoices.c.open_minor > 0)
        .group_by(invoices.c.customer_id, invoices.c.currency)
    )
    amounts: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for customer_id, currency, total in connection.execute(query):
        amounts[by_id[customer_id]][currency] = money.from_minor(int(total), currency)
    return amounts
