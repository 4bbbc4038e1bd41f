"""Why a customer gets what it gets: the ``explain`` trail and the ``history`` listing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import attrs
from sqlalchemy import Connection, select

from arrears.core import book, output, schema
from arrears.core.domain import Setup
from arrears.core.run import Decision, InvoiceVerdict


@attrs.frozen
class StepLine:
    step: str
    action: str
    when: str
    days: int
    offset: int
    pre_dunning: bool
    status: str
    reason: str = ""


@attrs.frozen
class Trail:
    """``explain --format json``."""

    customer: str
    date: date
    hierarchy: str | None
    assignment: str
    excluded: str | None
    error: str | None
    invoices: list[InvoiceVerdict]
    leading: str | None
    days_past_due: int | None
    steps: list[StepLine]
    actions: list[Any]
    not_possible: list[Any]
    details: dict[str, Any]


def trail(decision: Decision, setup: Setup) -> Trail:
    """Describe every step of the customer's hierarchy against *decision*."""
    placed = decision.assignment
    hierarchy = setup.hierarchy(placed.hierarchy) if placed.hierarchy else None
    outcomes = {a.step: o for a, o in decision.outcomes}
    ran = {r.step for r in decision.done}
    # With track step the steps run in order: the first not run yet is the one waited for.
    pending = next((s for s in hierarchy.regular_steps if s.description not in ran), None) \
        if hierarchy and setup.parameters.track_step else None
    lines: list[StepLine] = []
    for step in hierarchy.steps if hierarchy else ():
        status, reason = _status(decision, step, outcomes, pending)
        lines.append(StepLine(step.description, step.action, step.when, step.days, step.offset,
                              step.pre_dunning, status, reason))
    details: dict[str, Any] = {}
    for _, outcome in decision.outcomes:
        details.update(outcome.details)
    return Trail(
        customer=decision.customer.account, date=decision.as_of,
        hierarchy=placed.hierarchy, assignment=placed.reason, excluded=decision.excluded,
        error=decision.error, invoices=decision.invoices,
        leading=decision.leading.number if decision.leading else None,
        days_past_due=decision.days_past_due, steps=lines, actions=decision.actions,
        not_possible=decision.skipped, details=details)


def _status(decision: Decision, step: Any, outcomes: dict[str, Any],
            pending: Any = None) -> tuple[str, str]:
    if decision.error:
        return "not decided", "the customer failed"
    if decision.excluded:
        return "excluded", "the customer is excluded"
    if step.description in outcomes:
        outcome = outcomes[step.description]
        return ("runs", outcome.reason) if outcome.done else ("not possible", outcome.reason)
    if step.pre_dunning:
        return "nothing to do today", "no eligible invoice in its window that has not had it"
    if decision.leading is None:
        return "no leading invoice", ""
    ran = {r.step: r.date for r in decision.done}
    if step.description in ran:
        return "ran", f"on {ran[step.description]} for {decision.leading.number}"
    choice = decision.choice
    if choice is not None and step.description in choice.passed_over:
        return "passed over", "a later step is due"
    due = decision.leading.due_date + timedelta(days=step.offset)
    if decision.days_past_due is not None and step.offset > decision.days_past_due:
        return "not due", f"due on {due}"
    if choice is not None and choice.hold and choice.step == step:
        return "held", choice.reason
    if choice is not None and choice.waiting == step.description:
        return "waiting", choice.reason
    if pending is not None and step.offset > pending.offset:
        return "waiting", f"track step: runs after {pending.description}"
    return "skipped", "a later step is closer to today" if choice else ""


def as_text(found: Trail) -> str:
    """The trail for a person."""
    lines = [f"customer {found.customer} on {found.date}: hierarchy "
             f"{found.hierarchy or '(none)'} ({found.assignment})"]
    if found.error:
        lines.append(f"failed: {found.error}")
    if found.excluded:
        lines.append(f"excluded: {found.excluded}")
    if found.invoices:
        lines.append(output.table(
            [(i.number, i.due_date, f"{i.open_amount} {i.currency}", i.status,
              ("yes" if i.eligible else "no") + (f": {i.reason}" if i.reason else ""))
             for i in found.invoices],
            ["invoice", "due", "open", "status", "eligible"]))
    if found.leading:
        days = found.days_past_due or 0
        count = f"{abs(days)} day{'' if abs(days) == 1 else 's'}"
        when = (f"{count} past due" if days > 0 else "due today" if days == 0 else
                f"due in {count}")
        lines.append(f"leading invoice: {found.leading}, {when}")
    if found.steps:
        lines.append(output.table(
            [(s.step, s.action, f"{s.offset:+d}", s.status, s.reason) for s in found.steps],
            ["step", "action", "offset", "status", "why"]))
    for key, value in found.details.items():
        lines.append(f"{key}: {output.plain(value)}")
    return "\n".join(lines)


@attrs.frozen
class HistoryRow:
    """One ``history`` entry (spec/CLI.md)."""

    run: int | None
    date: date
    hierarchy: str | None
    customer: str | None
    invoice: str | None
    step: str | None
    kind: str
    reason: str


def history(connection: Connection, *, hierarchy: str | None = None,
            customer: str | None = None, limit: int | None = None) -> list[HistoryRow]:
    """History entries, newest first."""
    table = schema.history
    customers, invoices = schema.customer, schema.invoice
    query = (select(table.c.run_id, table.c.date, table.c.hierarchy, customers.c.account,
                    invoices.c.number, table.c.step, table.c.kind, table.c.reason)
             .outerjoin(customers, customers.c.id == table.c.customer_id)
             .outerjoin(invoices, invoices.c.id == table.c.invoice_id)
             .order_by(table.c.date.desc(), table.c.id.desc()))
    if hierarchy is not None:
        query = query.where(table.c.hierarchy == hierarchy)
    if customer is not None:
        found = book.find_customer(connection, customer, "--customer")
        query = query.where(table.c.customer_id == found.id)
    if limit is not None:
        query = query.limit(limit)
    return [HistoryRow(*row) for row in connection.execute(query)]
