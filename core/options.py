"""Parsers for setup values, shared by the setup file and plugins' declared options.

Each takes the TOML value and returns the stored one, or raises ValueError
with a message that says what was expected and what was found.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from decimal import Decimal
from typing import Any

from arrears.core import money


def decimal(value: Any) -> Decimal:
    """Any decimal number, written as a string (``"10.00"``) or a TOML number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f'expected an amount such as "10.00", got {show(value)}')
    return money.parse_amount(str(value))


def strings(value: Any) -> tuple[str, ...]:
    """A string or an array of strings, as a tuple. A string of several lines (the text
    of a ``.txt`` file next to the setup file) is one item a line, blank lines left out."""
    if isinstance(value, str) and "\n" in value:
        value = [line.strip() for line in value.splitlines() if line.strip()]
        if not value:
            raise ValueError("expected a value a line, got blank lines only")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ValueError(f"expected a string or an array of strings, got {show(value)}")
    return tuple(items)


def show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {show(value)}")
    return value


_NOT_IN_ADDRESS = r"[^@\s\x00-\x1f\x7f<>,;\"]+"
_EMAIL = re.compile(rf"{_NOT_IN_ADDRESS}@{_NOT_IN_ADDRESS}\.{_NOT_IN_ADDRESS}")


def email(value: Any) -> str:
    """One email address, by its shape: name@domain.tld, with no blank, line break,
    control character or any of ``<>,;"`` (which would make it more than one address
    in a mail header). Contacts, the setup's addresses and, before sending, every
    recipient are checked with it."""
    address = text(value)
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"{json.dumps(address, ensure_ascii=False)} is not an email address")
    return address


def identifier(value: Any) -> str:
    stripped = text(value).strip()
    if not stripped:
        raise ValueError("may not be empty")
    return stripped


def number(value: Any) -> float:
    """A number, written as one (not ``"1.5"`` or ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {show(value)}")
    return float(value)


def whole(value: Any) -> int:
    """A whole number, written as one (not ``"7"``, ``7.0`` or ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {show(value)}")
    return value


def count(value: Any) -> int:
    value = whole(value)
    if value < 0:
        raise ValueError(f"expected 0 or more, got {value}")
    return value


MAX_DAYS = 36_500
"""The most days a setup value may count: a hundred years, and dates stay dates."""


def days(value: Any) -> int:
    """A number of days, 0 to :data:`MAX_DAYS`."""
    number = count(value)
    if number > MAX_DAYS:
        raise ValueError(f"expected at most {MAX_DAYS} days (a hundred years), got {number}")
    return number


def positive(value: Any) -> int:
    number = count(value)
    if number < 1:
        raise ValueError(f"expected 1 or more, got {number}")
    return number


def positive_days(value: Any) -> int:
    """A number of days, 1 to :data:`MAX_DAYS`."""
    return days(positive(value))


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {show(value)}")
    return value


def amount(value: Any) -> Decimal:
    amount = decimal(value)
    if amount < 0:
        raise ValueError(f"expected an amount of 0 or more, got \"{value}\"")
    return amount


def currency(value: Any) -> str:
    code = text(value)
    if not money.is_currency(code):
        raise ValueError(f'"{code}" is not an ISO 4217 currency code')
    return code.upper()


def timezone(value: Any) -> str:
    name = text(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{name}" is not a time zone (such as "Europe/Stockholm")') from None
    return name


def when(value: Any) -> str:
    if value not in ("before", "after"):
        raise ValueError(f'expected "before" or "after", got {show(value)}')
    return str(value)


