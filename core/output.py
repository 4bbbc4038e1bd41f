"""Turning results into what a user reads: JSON on stdout, or a plain table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import cattrs

converter = cattrs.Converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook(datetime, lambda moment: moment.isoformat(timespec="seconds"))


def to_json(value: Any) -> str:
    """One JSON document: Decimal amounts as strings, dates as ``YYYY-MM-DD``."""
    return json.dumps(converter.unstructure(value), ensure_ascii=False, indent=2)


def plain(value: Any) -> str:
    """A value as a table cell."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as an aligned text table with a header line."""
    cells = [[plain(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)

