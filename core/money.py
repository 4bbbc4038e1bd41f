"""Money: Decimal amounts in Python, integer minor units of their currency in the database.

Storing minor units keeps amounts exact on every backend (SQLite's NUMERIC goes
through float) and lets SQL add them up. Currency precision is ISO 4217's, held here
rather than asked of Babel: CLDR's digits are those currencies are *shown* with (0 for
the Serbian dinar, which ISO 4217 and ledgers give 2), and a stored amount's minor
units must mean the same whatever Babel a later install brings.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import list_currencies

from arrears.core.errors import ArrearsError

AMOUNT = re.compile(r"-?([0-9]+)(?:\.[0-9]+)?")
"""An amount as written: ASCII digits, a dot before the decimals, a minus at most."""
MAX_DIGITS = 20
"""Digits before the dot, at most: beyond any amount arrears can store."""
MAX_STORED = 2**63 - 1
"""The largest number of minor units a column holds (a 64-bit integer)."""


# ISO 4217's minor units of the currencies that have other than 2; for codes withdrawn
# from ISO 4217 (ITL, ESP, …), the digits CLDR gave them when this table was written.
# Changing a currency's digits changes what its stored minor units mean: it takes a
# migration (0008 moved AFN, ALL, IQD, IRR, KPW, LAK, LBP, MGA, MMK, RSD, SLL, SOS,
# SYP and YER from CLDR's 0 digits to ISO 4217's).
_DIGITS = {
    **dict.fromkeys("ADP BIF BYR CLP DJF ESP GNF ISK ITL JPY KMF KRW LUF MGF MRO PYG RWF "
                    "STD TMM TRL UGX UYI VND VUV XAF XOF XPF ZMK ZWD".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}


@cache
def decimals(currency: str) -> int:
    """Number of minor-unit digits of *currency* (USD 2, JPY 0, BHD 3), ISO 4217's."""
    return _DIGITS.get(currency.upper(), 2)


def is_currency(code: str) -> bool:
    """True for a three-letter ISO 4217 code Babel knows."""
    return len(code) == 3 and code.upper() in _known_currencies()


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def parse_amount(text: str, currency: str | None = None) -> Decimal:
    """Parse a decimal amount written with a dot; reject anything else.

    With *currency*, the amount may not have more decimals than the currency has.
    Raises ValueError with a message fit for the user.
    """
    raw = text.strip()
    form = AMOUNT.fullmatch(raw)
    if form is None:  # Decimal() itself would take 1_000, 1e3 and digits of any script
        raise ValueError(f'"{text}" is not an amount (write 1250.00)')
    if len(form.group(1)) > MAX_DIGITS:
        raise ValueError(f'"{text}" is too large')
    value = Decimal(raw)
    if currency is not None:
        places = decimals(currency)
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > places and value != value.quantize(Decimal(1).scaleb(-places)):
            raise ValueError(f'"{text}" has more decimals than {currency} allows ({places})')
        value = value.quantize(Decimal(1).scaleb(-places))
    return value


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact integer minor units of *amount* in *currency*; ArrearsError when more than
    the databases' 64-bit integers hold (a sum of many large amounts, say)."""
    minor = int(amount.scaleb(decimals(currency)).to_integral_exact())
    if abs(minor) > MAX_STORED:
        raise ArrearsError(f"{amount} {currency} is more than arrears can store")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """The Decimal amount of *minor* units of *currency*, with the currency's decimals."""
    return Decimal(minor).scaleb(-decimals(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """*amount* rounded half-up to the currency's decimals (for display and storage)."""
    return amount.quantize(Decimal(1).scaleb(-decimals(currency)), rounding=ROUND_HALF_UP)
