"""CSV import (``arrears import KIND FILE``): validated whole, then upserted in bulk.

PLACEHOLDER INTERFACE, being implemented: see ``import_file``.
"""

from __future__ import annotations

from pathlib import Path

import attrs
from sqlalchemy import Connection

KINDS = ("customers", "contacts", "invoices", "payments", "rates")


@attrs.frozen
class ImportSummary:
    kind: str
    file: str
    rows: int
    inserted: int
    updated: int


def import_file(connection: Connection, kind: str, path: Path) -> ImportSummary:
    raise NotImplementedError
