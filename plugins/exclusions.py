"""The hierarchy's ``exclude`` rules of SEMANTICS.md §2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from arrears.core import hookimpl, options
from arrears.core.context import Context
from arrears.core.domain import Customer, Hierarchy, Invoice, SetupOption
from arrears.core.money import quantize


@hookimpl
def register_exclusion_rules(register: Callable[[SetupOption], None]) -> None:
    register(SetupOption(
        "customer_balance_below", options.amount, str,
        description="skip the customer when its open balance (accounting currency) is below this",
    ))
    register(SetupOption(
        "invoice_amount_below", options.amount, str,
        description="ignore invoices whose open amount (accounting currency) is below this",
    ))


@hookimpl
def exclude_customer(customer: Customer, hierarchy: Hierarchy, context: Context) -> str | None:
    threshold = hierarchy.exclude.get("customer_balance_below")
    if threshold is None:
        return None
    balance = context.balance(customer)
    if balance < threshold:
        currency = context.setup.parameters.accounting_currency
        return (f"customer aging balance {_shown(balance, currency, threshold)} {currency} is "
                f"less than {threshold}")
    return None


def _shown(amount: Decimal, currency: str, threshold: Decimal) -> str:
    """*amount*, below *threshold*, in the currency's decimals, unless rounding it there
    would hide that it is below (9.999909 is not "10.00 is less than 10.00")."""
    rounded = quantize(amount, currency)
    return str(rounded) if rounded < threshold else format(amount.normalize(), "f")


@hookimpl
def exclude_invoices(invoices: Sequence[Invoice], hierarchy: Hierarchy,
                     context: Context) -> dict[str, str] | None:
    threshold = hierarchy.exclude.get("invoice_amount_below")
    if threshold is None:
        return None
    currency = context.setup.parameters.accounting_currency
    below = {}
    for invoice in invoices:
        amount = context.in_accounting_currency(invoice.open_amount, invoice.currency)
        if amount < threshold:
            below[invoice.number] = (f"invoice amount {_shown(amount, currency, threshold)} "
                                     f"{currency} is less than {threshold}")
    return below
