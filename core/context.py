"""What hooks get besides their subject: the date, the setup, rates and balances."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

import attrs
from sqlalchemy import Connection, select

from arrears.core import schema
from arrears.core.domain import Customer, Setup
from arrears.core.errors import MissingRate


@attrs.define
class Rates:
    """Exchange rates into the accounting currency, loaded once per command."""

    accounting_currency: str
    _dates: dict[str, list[date]] = attrs.field(factory=dict)
    _rates: dict[str, list[Decimal]] = attrs.field(factory=dict)

    @classmethod
    def load(cls, connection: Connection, accounting_currency: str) -> Rates:
        rates = cls(accounting_currency)
        table = schema.Rate.__table__
        query = select(table.c.currency, table.c.date, table.c.rate).order_by(
            table.c.currency, table.c.date
        )
        for currency, on, rate in connection.execute(query):
            rates._dates.setdefault(currency, []).append(on)
            rates._rates.setdefault(currency, []).append(rate)
        return rates

    def rate(self, currency: str, on: date) -> Decimal:
        """The latest rate of *currency* dated on or before *on*."""
        if currency == self.accounting_currency:
            return Decimal(1)
        dates = self._dates.get(currency, [])
        index = bisect.bisect_right(dates, on)
        if index == 0:
            raise MissingRate(currency, on)
        return self._rates[currency][index - 1]

    def convert(self, amount: Decimal, currency: str, on: date) -> Decimal:
        """*amount* of *currency* in the accounting currency, unrounded."""
        if currency == self.accounting_currency:
            return amount
        return amount * self.rate(currency, on)


@attrs.define
class Context:
    """Handed to hooks that decide about customers on one date.

    :ivar as_of: the run date.
    :ivar setup: the setup in force.
    :ivar rates: exchange rates.
    :ivar failures: customers that could not be decided, with the reason; a
        plugin reports one with :meth:`fail` and the kernel records it.
    """

    as_of: date
    setup: Setup
    rates: Rates
    open_amounts: Mapping[str, Mapping[str, Decimal]] = attrs.field(factory=dict)
    failures: dict[str, str] = attrs.field(factory=dict)

    def balance(self, customer: Customer) -> Decimal:
        """The customer's open balance in the accounting currency on :attr:`as_of`.

        All open amounts count, whatever their status (SEMANTICS.md §7).
        Raises :class:`~arrears.core.errors.MissingRate`.
        """
        amounts = self.open_amounts.get(customer.account, {})
        converted = (self.rates.convert(amount, currency, self.as_of)
                     for currency, amount in amounts.items())
        return sum(converted, Decimal(0))

    def fail(self, customer: Customer, reason: str) -> None:
        """Give up on *customer* for this command, with *reason*."""
        self.failures.setdefault(customer.account, reason)

    def failed(self, customers: Iterable[Customer]) -> list[Customer]:
        return [c for c in customers if c.account in self.failures]
