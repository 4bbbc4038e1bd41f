"""Turning results into what a user reads: JSON on stdout, or a plain table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


class Encoded(str):
    """An item of a streamed list (:func:`write_json`) already in the JSON it is
    written as, :func:`indented` at level 2: written as it is."""

    __slots__ = ()


def write_json(document: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """Write *document* as :func:`to_json` would, a piece at a time: the items of a
    value that is neither a list nor a mapping but iterable (a run's actions,
    :meth:`~arrears.core.run.ActionSpool.encoded`) are converted one by one as they
    are written, never held together; an :class:`Encoded` item is written as it is."""
    write("{")
    for index, (key, value) in enumerate(document.items()):
        write(("," if index else "") + f"\n  {json.dumps(key)}: ")
        if isinstance(value, Iterable) and not isinstance(value, str | bytes | Sequence | Mapping):
            written = False
            for item in value:
                write(("," if written else "[") + "\n    "
                      + (item if isinstance(item, Encoded) else indented(item, 2)))
                written = True
            write("\n  ]" if written else "[]")
        else:
            write(indented(value, 1))
    write("\n}\n")


_SCALARS = (str, int, float, bool, type(None))


def indented(value: Any, level: int) -> str:
    """*value* as :func:`to_json` writes it when nested *level* deep (indented by two
    spaces a level, from its second line on)."""
    value = converter.unstructure(value)
    if isinstance(value, dict) and value and all(
            isinstance(item, _SCALARS) for item in value.values()):
        # What json.dumps(indent=2) writes for a flat object (a run's action), made of
        # pieces from json's C encoder: with indent, json encodes in pure Python.
        pad = "\n" + "  " * (level + 1)
        return "{" + ",".join(f"{pad}{_scalar(key)}: {_scalar(item)}"
                              for key, item in value.items()) + "\n" + "  " * level + "}"
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return text.replace("\n", "\n" + "  " * level)


_scalar = json.JSONEncoder(ensure_ascii=False).encode


# Control characters in a cell written as escapes: a value stored before the import
# refused them must not steer the terminal (ESC sequences) or break the table's lines.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})


def plain(value: Any) -> str:
    """A value as a table cell: one line, no control characters."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as an aligned text table with a header line."""
    return "\n".join(table_lines(lambda: rows, headers))


def table_lines(rows: Callable[[], Iterable[Sequence[Any]]],
                headers: Sequence[str]) -> Iterator[str]:
    """The lines of :func:`table`, for rows too many to hold: *rows* is called twice,
    once to measure the columns and once to write them."""
    widths = [len(h) for h in headers]
    for row in rows():
        widths = [max(w, len(plain(v))) for w, v in zip(widths, row, strict=True)]
    yield "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    for row in rows():
        yield "  ".join(plain(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()

