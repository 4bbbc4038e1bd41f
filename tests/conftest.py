"""Fixtures come from arrears.core.testing (the pytest11 plugin); these are ours alone."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from arrears.core import setupfile
from arrears.core.domain import Setup
from arrears.core.plugins import Registry
from arrears.core.schema import metadata

DATA = Path(__file__).parent / "data"

# The kernel's tests see arrears' own plugins only, whatever else is installed
# (contrib/ packages are tested on their own); subprocesses inherit this.
os.environ["ARREARS_LOAD_PLUGINS"] = ""


@pytest.fixture
def data() -> Path:
    """The folder of sample setup files and CSVs."""
    return DATA


@pytest.fixture
def setup(arrears_pm, data: Path) -> Setup:
    """tests/data/setup.toml, parsed: the FAQ's strategy."""
    return setupfile.read(data / "setup.toml", Registry.collect(arrears_pm))


@pytest.fixture
def snapshot(arrears_db_url: str) -> Callable[[], Any]:
    """Everything the database holds: every table's rows, and on SQLite the file's
    bytes too, so that "writes nothing" can be asserted on either backend."""
    def take() -> Any:
        engine = create_engine(arrears_db_url)
        with engine.connect() as connection:
            rows = {table.name: sorted(map(repr, connection.execute(select(table))))
                    for table in metadata.sorted_tables}
        engine.dispose()
        if arrears_db_url.startswith("sqlite:///"):
            path = Path(arrears_db_url.removeprefix("sqlite:///"))
            rows["sqlite file"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return rows

    return take
