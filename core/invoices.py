"""Changing an invoice's collections status by hand (``arrears invoice status``)."""

from __future__ import annotations

from datetime import date

import attrs
from sqlalchemy import Connection, select

from arrears.core import schema
from arrears.core.errors import BadInput

invoices = schema.invoice
history = schema.history


@attrs.frozen
class StatusChange:
    invoice: str
    previous: str
    status: str
    promised_date: date | None


def set_status(connection: Connection, number: str, status: str,
               promised_date: date | None, today: date) -> StatusChange:
    """Set *number*'s collections status; the change is written to the history.

    ``promised`` needs the promised date; no other status takes one.
    """
    if status == "promised" and promised_date is None:
        raise BadInput("--date: status promised needs the promised payment date (YYYY-MM-DD)")
    if status != "promised" and promised_date is not None:
        raise BadInput(f"--date: only status promised takes a date, not {status}")
    row = connection.execute(
        select(invoices.c.id, invoices.c.customer_id, invoices.c.status)
        .where(invoices.c.number == number)
    ).first()
    if row is None:
        raise BadInput(f'INVOICE: no invoice "{number}"')
    connection.execute(invoices.update().where(invoices.c.id == row.id)
                       .values(status=status, promised_date=promised_date))
    reason = f"collections status {row.status} -> {status}" + (
        f" (promised {promised_date.isoformat()})" if promised_date else "") + ", set by hand"
    connection.execute(history.insert().values(
        date=today, customer_id=row.customer_id, invoice_id=row.id,
        kind="status", reason=reason))
    return StatusChange(number, row.status, status, promised_date)
