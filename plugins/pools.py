"""The standard pool criteria (SEMANTICS.md §1): attribute lists, accounts, balance range."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from arrears.core import hookimpl, options
from arrears.core.context import Context
from arrears.core.domain import Customer, Pool, Setup, SetupOption
from arrears.core.errors import MissingRate

ATTRIBUTES = ("customer_group", "currency", "country", "sales_group", "collections_agent")


def _as_list(values: tuple[str, ...]) -> list[str] | str:
    return values[0] if len(values) == 1 else list(values)


def _defined(section: str) -> Callable[[tuple[str, ...], Setup], Iterable[str]]:
    def check(values: tuple[str, ...], setup: Setup) -> Iterable[str]:
        parties = setup.sales_groups if section == "sales_group" else setup.collections_agents
        known = {party.id for party in parties}
        for value in values:
            if value not in known:
                yield f'no {section} "{value}" (defined: {", ".join(sorted(known)) or "none"})'

    return check


@hookimpl
def register_pool_criteria(register: Callable[[SetupOption], None]) -> None:
    for attribute in ATTRIBUTES:
        check = _defined(attribute) if attribute in ("sales_group", "collections_agent") else None
        register(SetupOption(attribute, options.strings, _as_list, check,
                             f"the customer's {attribute} is one of these"))
    register(SetupOption("accounts", options.strings, list,
                         description="the customer's account is listed"))
    register(SetupOption("balance_min", options.decimal, str,
                         description="open balance in the accounting currency is at least this"))
    register(SetupOption("balance_max", options.decimal, str,
                         description="open balance in the accounting currency is at most this"))


def _matches(customer: Customer, pool: Pool) -> bool:
    criteria = pool.criteria
    for attribute in ATTRIBUTES:
        if attribute in criteria and getattr(customer, attribute) not in criteria[attribute]:
            return False
    return "accounts" not in criteria or customer.account in criteria["accounts"]


def _balance_ok(balance: Decimal, pool: Pool) -> bool:
    low = pool.criteria.get("balance_min")
    high = pool.criteria.get("balance_max")
    return (low is None or balance >= low) and (high is None or balance <= high)


@hookimpl
def select_customers(
    pool: Pool, customers: Sequence[Customer], context: Context
) -> Iterable[Customer] | None:
    owned = set(ATTRIBUTES) | {"accounts", "balance_min", "balance_max"}
    if not owned & set(pool.criteria):
        return None
    by_balance = "balance_min" in pool.criteria or "balance_max" in pool.criteria
    selected = []
    for customer in customers:
        if not _matches(customer, pool):
            continue
        if by_balance:
            try:
                if not _balance_ok(context.balance(customer), pool):
                    continue
            except MissingRate as missing:
                context.fail(customer, f'pool "{pool.id}": {missing}')
                continue
        selected.append(customer)
    return selected
