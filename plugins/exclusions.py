"""The hierarchy's ``exclude`` rules of SEMANTICS.md §2."""

from __future__ import annotations

from collections.abc import Callable

from arrears.core import hookimpl, options
from arrears.core.domain import SetupOption


@hookimpl
def register_exclusion_rules(register: Callable[[SetupOption], None]) -> None:
    register(SetupOption("customer_balance_below", options.amount, str,
                         "skip the customer when its open balance (accounting currency) "
                         "is below this"))
    register(SetupOption("invoice_amount_below", options.amount, str,
                         "ignore invoices whose open amount (accounting currency) is below this"))
