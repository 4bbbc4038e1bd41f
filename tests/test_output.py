"""The JSON a command streams (``output.write_json``) is what ``json.dumps(indent=2)``
writes for the same document: scripts may read it either way."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from arrears.core import output
from arrears.core.domain import Action

TRICKY = ['quote " and backslash \\', "line\nbreak\ttab", "ünïcödé €", "\x00\x1f control",
          "", "emoji 🙂", "</script>"]


@pytest.mark.parametrize("item", [
    Action("C1", "H", "Step 1", "email", "INV-1", date(2025, 1, 2), "REMIND", "a@example.com"),
    Action("C2", "H", "Call", "activity", None, date(2025, 1, 2)),
    *({"text": text, "n": 7, "x": 2.5, "yes": True, "none": None} for text in TRICKY),
    {"amount": Decimal("12.30"), "nested": {"a": [1, 2]}},
    {},
])
def test_streamed_items_are_written_as_json_dumps_writes_them(item):
    document = {"run": 1, "actions": iter([item, item])}
    pieces: list[str] = []
    output.write_json(document, pieces.append)
    expected = json.dumps({"run": 1, "actions": [output.converter.unstructure(item)] * 2},
                          ensure_ascii=False, indent=2) + "\n"
    assert "".join(pieces) == expected


def test_a_table_cell_never_steers_the_terminal_nor_breaks_its_line():
    """Values stored before the import refused control characters are shown escaped."""
    shown = output.table([("C1\x1b]0;PWNED\x07\x1b[2J", "INV-1\r\nBcc: x", "a\tb\x9b")],
                         ["customer", "invoice", "note"])
    assert "\x1b" not in shown and "\r" not in shown and "\x9b" not in shown
    header, row = shown.splitlines()
    assert row.split() == ["C1\\x1b]0;PWNED\\x07\\x1b[2J", "INV-1\\r\\nBcc:", "x", "a\\tb\\x9b"]
