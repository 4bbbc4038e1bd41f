"""The time: timestamps in UTC, and today where the book is kept."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Now in UTC, without tzinfo (how timestamps are stored on every backend)."""
    return datetime.now(UTC).replace(tzinfo=None)


def today(timezone: str) -> date:
    """Today's date in *timezone* (the setup's)."""
    return datetime.now(zoneinfo.ZoneInfo(timezone)).date()
