"""Which hierarchy each customer follows (SEMANTICS.md §1).

A manual assignment beats every pool; otherwise the hierarchy of best rank
whose pool holds the customer wins. Pool membership is decided by the
``select_customers`` hook, every plugin's answer ANDed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime

import attrs
import pluggy
from sqlalchemy import Connection, delete, select, true

from arrears.core import book, plugins, schema
from arrears.core.clock import utcnow
from arrears.core.context import Context, Rates
from arrears.core.domain import Assignment, Customer, Hierarchy, Setup
from arrears.core.errors import ArrearsError, BadInput

manual = schema.manual_assignment


def _hierarchy(setup: Setup, hierarchy_id: str) -> Hierarchy:
    hierarchy = setup.hierarchy(hierarchy_id)
    if hierarchy is None:
        known = ", ".join(h.id for h in setup.hierarchies) or "none"
        raise BadInput(f'HIERARCHY: no hierarchy "{hierarchy_id}" in the setup (defined: {known})')
    return hierarchy


def assign(connection: Connection, setup: Setup, account: str, hierarchy_id: str) -> Assignment:
    """Assign *account* to *hierarchy_id* by hand, replacing any earlier manual assignment."""
    _hierarchy(setup, hierarchy_id)
    customer = book.find_customer(connection, account)
    connection.execute(delete(manual).where(manual.c.customer_id == customer.id))
    connection.execute(manual.insert().values(
        customer_id=customer.id, hierarchy=hierarchy_id,
        assigned_at=utcnow()))
    return Assignment(account, hierarchy_id, "manual")


def unassign(connection: Connection, account: str) -> bool:
    """Remove *account*'s manual assignment; False if it had none."""
    customer = book.find_customer(connection, account)
    removed = connection.execute(delete(manual).where(manual.c.customer_id == customer.id))
    return removed.rowcount > 0


@attrs.frozen
class ManualAssignment:
    """One row of ``arrears assignments``."""

    customer: str
    hierarchy: str
    assigned: datetime
    in_setup: bool  # False: the setup has no such hierarchy (its runs fail the customer)


def list_manual(connection: Connection, setup: Setup) -> list[ManualAssignment]:
    """Every manual assignment, by account."""
    rows = connection.execute(
        select(schema.customer.c.account, manual.c.hierarchy, manual.c.assigned_at)
        .join(schema.customer, schema.customer.c.id == manual.c.customer_id)
        .order_by(schema.customer.c.account))
    return [ManualAssignment(account, hierarchy, assigned, setup.hierarchy(hierarchy) is not None)
            for account, hierarchy, assigned in rows]


def manual_assignments(connection: Connection, batch: Sequence[Customer]) -> dict[str, str]:
    """The hierarchy each customer of *batch* is assigned to by hand, if any; read by the
    range of the batch's ids, as ``book.load_batch`` reads, not with a list of them."""
    by_id = {c.id: c.account for c in batch}
    if not by_id:
        return {}
    rows = connection.execute(
        select(manual.c.customer_id, manual.c.hierarchy)
        .where(manual.c.customer_id.between(min(by_id), max(by_id))))
    return {by_id[customer_id]: hierarchy for customer_id, hierarchy in rows
            if customer_id in by_id}


def in_pool(pm: pluggy.PluginManager, setup: Setup, pool_id: str,
            customers: Sequence[Customer], context: Context) -> list[Customer]:
    """The customers of *customers* that every plugin keeps in the pool."""
    pool = setup.pool(pool_id)
    assert pool is not None, "the setup check guarantees every hierarchy's pool exists"
    kept = {c.account for c in customers}
    try:
        for answer in pm.hook.select_customers(pool=pool, customers=customers,
                                               context=context):
            try:
                kept &= {c.account for c in answer}
            except (TypeError, AttributeError):
                raise plugins.wrong_answer(pm, "select_customers", answer,
                                           "the customers kept, or None") from None
    except Exception as error:  # a plugin's failure fails the customers it was sorting
        reason = plugins.failure(pm, error)
        for customer in customers:
            context.failures.setdefault(customer.account, reason)
        return []
    kept -= set(context.failures)
    return [c for c in customers if c.account in kept]


def assign_batch(pm: pluggy.PluginManager, setup: Setup, connection: Connection,
                 customers: Sequence[Customer], context: Context) -> dict[str, Assignment]:
    """The assignment of every customer of the batch; failures are in ``context.failures``."""
    result: dict[str, Assignment] = {}
    for account, hierarchy_id in manual_assignments(connection, customers).items():
        if setup.hierarchy(hierarchy_id) is None:
            context.failures[account] = (f'manually assigned to hierarchy "{hierarchy_id}", '
                                         "which the setup no longer has")
        else:
            result[account] = Assignment(account, hierarchy_id, "manual")
    remaining = [c for c in customers if c.account not in result]
    for hierarchy in sorted(setup.hierarchies, key=lambda h: h.rank):
        if not remaining:
            break
        for customer in in_pool(pm, setup, hierarchy.pool, remaining, context):
            result[customer.account] = Assignment(customer.account, hierarchy.id,
                                                  f"pool:{hierarchy.pool}")
        remaining = [c for c in remaining
                     if c.account not in result and c.account not in context.failures]
    for customer in remaining:
        result[customer.account] = Assignment(customer.account, None, "none")
    return {c.account: result[c.account] for c in customers if c.account in result}


def preview_customer(pm: pluggy.PluginManager, setup: Setup, connection: Connection,
                     account: str, as_of: date) -> Assignment:
    """Which hierarchy *account* gets on *as_of*, and why. Read-only."""
    customer = book.find_customer(connection, account)
    context = Context.of_batch(connection, setup, as_of, [customer])
    answer = assign_batch(pm, setup, connection, [customer], context)
    if account in context.failures:
        raise ArrearsError(f"customer {account}: {context.failures[account]}")
    return answer[account]


def preview_hierarchy(pm: pluggy.PluginManager, setup: Setup, connection: Connection,
                      hierarchy_id: str, as_of: date) -> Iterator[Assignment | str]:
    """The customers *hierarchy_id* gets on *as_of*, streamed; a str is a failure message."""
    _hierarchy(setup, hierarchy_id)
    rates = Rates.load(connection, setup.parameters.accounting_currency)
    everyone = true()
    for ids in book.batches(connection, everyone):
        customers = book.customers_in(connection, ids)
        context = Context.of_batch(connection, setup, as_of, customers, rates=rates)
        for assignment in assign_batch(pm, setup, connection, customers, context).values():
            if assignment.hierarchy == hierarchy_id:
                yield assignment
        for account, reason in context.failures.items():
            yield f"customer {account}: {reason}"
