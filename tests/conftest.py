"""Fixtures come from arrears.core.testing (the pytest11 plugin); these are ours alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.core import setupfile
from arrears.core.domain import Setup
from arrears.core.plugins import Registry

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data() -> Path:
    """The folder of sample setup files and CSVs."""
    return DATA


@pytest.fixture
def setup(arrears_pm, data: Path) -> Setup:
    """tests/data/setup.toml, parsed: the FAQ's strategy."""
    return setupfile.read(data / "setup.toml", Registry.collect(arrears_pm))
