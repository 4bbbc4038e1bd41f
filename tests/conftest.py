"""Fixtures come from arrears.core.testing (the pytest11 plugin); these are ours alone."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data() -> Path:
    """The folder of sample setup files and CSVs."""
    return DATA
