"""Writes the run's decisions to the history table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from arrears.core import db, hookimpl, schema
from arrears.core.context import Context
from arrears.core.domain import HistoryEntry


@hookimpl
def record_history(entries: Sequence[HistoryEntry], context: Context) -> None:
    connection = context.connection
    if connection is None or context.simulate:
        return
    batch = context.batch
    customer_ids = {c.account: c.id for c in batch.customers} if batch else {}
    invoice_ids = dict(batch.invoice_ids) if batch else {}
    customers, invoices = schema.customer, schema.invoice
    accounts = {e.customer for e in entries if e.customer and e.customer not in customer_ids}
    numbers = {e.invoice for e in entries if e.invoice and e.invoice not in invoice_ids}
    if accounts:  # entries about customers or invoices outside the batch's: rare
        customer_ids.update(connection.execute(
            select(customers.c.account, customers.c.id).where(customers.c.account.in_(accounts))
        ).all())
    if numbers:
        invoice_ids.update(connection.execute(
            select(invoices.c.number, invoices.c.id).where(invoices.c.number.in_(numbers))
        ).all())
    db.insert_rows(connection, schema.history, [
        {"run_id": e.run, "date": e.date, "hierarchy": e.hierarchy,
         "customer_id": customer_ids.get(e.customer), "invoice_id": invoice_ids.get(e.invoice),
         "step": e.step, "kind": e.kind, "reason": e.reason} for e in entries])
