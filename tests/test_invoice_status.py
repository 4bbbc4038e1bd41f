"""`arrears invoice status`: collections status by hand, written to the history."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import create_engine, select, text

from arrears.core import schema


@pytest.fixture
def book(arrears_cli, data):
    for kind in ("customers", "invoices"):
        arrears_cli("import", kind, data / f"{kind}.csv").assert_success()
    return arrears_cli


def invoice(url: str, number: str) -> tuple:
    table = schema.invoice
    with create_engine(url).connect() as connection:
        return tuple(connection.execute(select(table.c.status, table.c.promised_date)
                                        .where(table.c.number == number)).one())


def history(url: str) -> list[tuple]:
    with create_engine(url).connect() as connection:
        return connection.execute(text(
            "SELECT kind, reason FROM history ORDER BY id")).all()


def test_status_changes_are_stored_and_recorded(book, arrears_db_url):
    book("invoice", "status", "INV-1", "disputed").assert_success()
    assert invoice(arrears_db_url, "INV-1") == ("disputed", None)
    result = book("invoice", "status", "INV-1", "promised", "--date", "2025-02-01",
                  "--format", "json").assert_success()
    assert result.json() == {"invoice": "INV-1", "previous": "disputed", "status": "promised",
                             "promised_date": "2025-02-01"}
    assert invoice(arrears_db_url, "INV-1") == ("promised", date(2025, 2, 1))
    book("invoice", "status", "INV-1", "resolved").assert_success()
    assert invoice(arrears_db_url, "INV-1") == ("resolved", None)
    assert [kind for kind, _ in history(arrears_db_url)] == ["status"] * 3
    assert history(arrears_db_url)[1][1] == (
        "collections status disputed -> promised (promised 2025-02-01), set by hand")


@pytest.mark.parametrize(("args", "message"), [
    (("INV-1", "promised"), "--date: status promised needs the promised payment date"),
    (("INV-1", "disputed", "--date", "2025-02-01"), "--date: only status promised takes a date"),
    (("INV-404", "disputed"), 'INVOICE: no invoice "INV-404"'),
    (("INV-1", "lost"), "'lost' is not one of 'none', 'disputed'"),
    (("INV-1", "promised", "--date", "02/01/2025"), '"02/01/2025" is not a date (YYYY-MM-DD)'),
])
def test_bad_status_input_changes_nothing(book, arrears_db_url, args, message):
    result = book("invoice", "status", *args).assert_exit(2)
    assert message in result.stderr
    assert invoice(arrears_db_url, "INV-1") == ("none", None)
    assert history(arrears_db_url) == []


def by_hand(book, number: str, tmp_path) -> None:
    book("invoice", "status", number, "disputed").assert_success()


def by_import(book, number: str, tmp_path) -> None:
    (tmp_path / "status.csv").write_text(
        "number,customer,invoice_date,due_date,amount,currency,status\n"
        f"{number},C1,2024-12-16,2025-01-15,1000.00,USD,disputed\n")
    book("import", "invoices", tmp_path / "status.csv").assert_success()


@pytest.mark.parametrize("change", [by_hand, by_import])
def test_a_status_change_is_dated_today_in_the_setup_s_timezone(book, arrears_db_url, data,
                                                                tmp_path, change):
    """UTC+14 and UTC−12 are 26 hours apart: their dates always differ, so at least one
    of them is not the machine's date."""
    import shutil

    from arrears.core import clock

    shutil.copy(data / "reminder_en.html", tmp_path)
    template = (data / "setup.toml").read_text()
    for number, zone in (("INV-1", "Pacific/Kiritimati"), ("INV-2", "Etc/GMT+12")):
        (tmp_path / "setup.toml").write_text(
            template.replace('timezone = "UTC"', f'timezone = "{zone}"'))
        book("setup", "load", tmp_path / "setup.toml").assert_success()
        change(book, number, tmp_path)
        with create_engine(arrears_db_url).connect() as connection:
            [on] = connection.execute(text(
                "SELECT h.date FROM history h JOIN invoice i ON i.id = h.invoice_id "
                f"WHERE i.number = '{number}'")).scalars().all()
        assert str(on) == clock.today(zone).isoformat()


def test_a_plugin_left_out_does_not_stop_setting_a_status(book, data, arrears_db_url):
    """The stored setup has letter steps; with the letters plugin left out it no longer
    checks, but setting a status or closing an activity needs only its timezone."""
    import os
    import subprocess
    import sys

    book("setup", "load", data / "setup.toml").assert_success()
    book("run", "--as-of", "2025-01-31").assert_exit(1)  # C4 has no rate: an activity or more

    def without_letters(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "arrears.core", "--db", arrears_db_url,
                               *args], capture_output=True, text=True,
                              env={**os.environ, "ARREARS_DISABLE_PLUGINS": "letters"})

    refused = without_letters("run")
    assert refused.returncode == 2 and 'unknown action type "letter"' in refused.stderr
    assert without_letters("invoice", "status", "INV-1", "disputed").returncode == 0
    assert without_letters("activity", "close", "1").returncode == 0
    assert invoice(arrears_db_url, "INV-1") == ("disputed", None)
