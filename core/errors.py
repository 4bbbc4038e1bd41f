"""The two kinds of failure a user sees: bad input (exit 2) and failed work (exit 1)."""

from __future__ import annotations

from collections.abc import Iterable


class ArrearsError(Exception):
    """The work could not be done; the message says why. Exit code 1."""

    exit_code = 1


class BadInput(ArrearsError):
    """Input was wrong: a file, a field, an option. Nothing was changed. Exit code 2.

    Holds every problem found, each one naming its place (``file:line: field: …``).
    """

    exit_code = 2

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class SchemaBehind(BadInput):
    """The database schema is older than this version of arrears, or missing."""


class MissingRate(ArrearsError):
    """No exchange rate for a currency on or before a date."""

    def __init__(self, currency: str, on: object):
        self.currency = currency
        self.on = on
        super().__init__(f"no exchange rate for {currency} on or before {on}")
