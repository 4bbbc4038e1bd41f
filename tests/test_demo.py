"""``arrears init --demo``: a sample setup and book that gives ``arrears run`` real work."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from arrears.core import demo, imports, invoices, schema
from arrears.core.db import Database
from arrears.core.plugins import Registry, get_plugin_manager

DATA = Path(__file__).parent / "data"
TABLES = ("customer", "contact", "invoice", "payment", "rate", "setup", "history", "meta")


def counts(url: str) -> dict[str, Any]:
    """Rows per table, and the open amounts per currency in minor units."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            result: dict[str, Any] = {
                name: connection.execute(
                    select(func.count()).select_from(schema.metadata.tables[name])
                ).scalar_one()
                for name in TABLES
            }
            invoice = schema.invoice
            result["open"] = dict(connection.execute(
                select(invoice.c.currency, func.sum(invoice.c.open_minor))
                .group_by(invoice.c.currency)).all())
            result["statuses"] = dict(connection.execute(
                select(invoice.c.status, func.count()).group_by(invoice.c.status)).all())
    finally:
        engine.dispose()
    return result


@pytest.fixture
def demo_cli(arrears_cli: Any) -> Any:
    """The test database with the demo loaded through ``arrears init --demo``."""
    result = arrears_cli("init", "--demo").assert_success()
    assert "demo: " in result.stderr
    return arrears_cli


def test_demo_setup_file_is_valid(arrears_cli: Any) -> None:
    result = arrears_cli("setup", "check", demo.SETUP).assert_success()
    assert "3 hierarchies" in result.stderr


def test_init_demo_loads_three_hierarchies_of_distinct_rank(demo_cli: Any) -> None:
    document = demo_cli("setup", "show", "--format", "json").assert_success().json()
    hierarchies = document["hierarchy"]
    assert len(hierarchies) == 3
    ranks = [h["rank"] for h in hierarchies]
    assert len(set(ranks)) == 3
    assert len({h["pool"] for h in hierarchies}) == 3
    assert {"en", "sv"} <= {language for t in document["email_template"] for language in t["body"]}
    assert any(letter["fee"] != "0.00" for s in document["letter_sequence"]
               for letter in s["letter"])

    seen: dict[str, set[str]] = {}
    for hierarchy in hierarchies:
        answer = demo_cli("preview", "hierarchy", hierarchy["id"], "--format", "json")
        customers = answer.assert_success().json()["customers"]
        assert customers, f"hierarchy {hierarchy['id']} gets no customers"
        seen[hierarchy["id"]] = set(customers)
    everyone = [c for customers in seen.values() for c in customers]
    assert len(everyone) == len(set(everyone)), "a customer is in two hierarchies"
    assert len(everyone) == counts(demo_cli.db_url)["customer"]


def test_init_demo_is_a_realistic_book(demo_cli: Any) -> None:
    loaded = counts(demo_cli.db_url)
    assert 250 <= loaded["customer"] <= 350
    assert loaded["contact"] >= loaded["customer"]
    assert 2500 <= loaded["invoice"] <= 3500
    assert loaded["payment"] > 0
    assert loaded["rate"] >= 120
    assert set(loaded["open"]) == {"USD", "SEK"}
    assert loaded["statuses"].get("disputed", 0) > 0
    assert loaded["statuses"].get("promised", 0) > 0


def test_invoices_fall_due_around_today_in_both_currencies(demo_cli: Any) -> None:
    today = date.today()
    invoice = schema.invoice
    engine = create_engine(demo_cli.db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(invoice.c.currency, invoice.c.due_date, func.count())
                .where(invoice.c.open_minor > 0,
                       invoice.c.due_date.between(today - timedelta(days=7),
                                                  today + timedelta(days=7)))
                .group_by(invoice.c.currency, invoice.c.due_date)).all()
            rate = schema.rate
            latest = connection.execute(select(func.max(rate.c.date))).scalar_one()
    finally:
        engine.dispose()
    assert {currency for currency, _, _ in rows} == {"USD", "SEK"}
    assert any(due < today for _, due, _ in rows) and any(due > today for _, due, _ in rows)
    assert latest == today


def test_init_demo_twice_doubles_nothing(demo_cli: Any) -> None:
    first = counts(demo_cli.db_url)
    result = demo_cli("init", "--demo").assert_success()
    assert "nothing changed" in result.stderr
    assert counts(demo_cli.db_url) == first


@pytest.mark.parametrize("held", ["customers", "setup"])
def test_init_demo_refuses_a_database_with_a_book_of_its_own(arrears_cli: Any, tmp_path: Any,
                                                             held: str) -> None:
    """The demo would replace the setup and merge its customers and invoices into the
    real ones (the same account numbers, even): a real book is never touched."""
    if held == "customers":
        (tmp_path / "customers.csv").write_text("account,name,currency\nC0001,Real Inc,USD\n")
        arrears_cli("import", "customers", tmp_path / "customers.csv").assert_success()
    else:
        arrears_cli("setup", "load", DATA / "setup.toml").assert_success()
    before = counts(arrears_cli.db_url)
    refused = arrears_cli("init", "--demo").assert_exit(2)
    assert "already holds" in refused.stderr and "a database of its own" in refused.stderr
    assert ("holds 1 customer of" if held == "customers" else "holds a setup of") in refused.stderr
    assert counts(arrears_cli.db_url) == before


def test_a_failed_demo_load_changes_nothing(arrears_db_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real = imports.import_file

    def failing(connection: Any, kind: str, path: Any) -> Any:
        if kind == "payments":
            raise RuntimeError("disk on fire")
        return real(connection, kind, path)

    monkeypatch.setattr(imports, "import_file", failing)
    before = counts(arrears_db_url)
    db = Database(arrears_db_url)
    try:
        with pytest.raises(RuntimeError, match="disk on fire"):
            demo.load(db, Registry.collect(get_plugin_manager()), today=date(2025, 3, 10))
    finally:
        db.dispose()
    assert counts(arrears_db_url) == before


def test_a_later_reload_keeps_the_first_date_and_what_happened_since(
        arrears_db_url: str) -> None:
    registry = Registry.collect(get_plugin_manager())
    db = Database(arrears_db_url)
    invoice = schema.invoice
    try:
        demo.load(db, registry, today=date(2025, 3, 10))
        with db.begin() as connection:  # a run broke a promise, say
            number = connection.execute(
                select(invoice.c.number).where(invoice.c.status == "promised")
                .order_by(invoice.c.number).limit(1)).scalar_one()
            invoices.set_status(connection, number, "broken", None, today=date(2025, 3, 11))
        before = counts(arrears_db_url)
        summary = demo.load(db, registry, today=date(2025, 3, 13))
    finally:
        db.dispose()
    assert "dated around 2025-03-10" in summary and "2025-03-13" in summary
    assert counts(arrears_db_url) == before
    assert before["statuses"]["broken"] == 1


def test_the_sample_is_the_same_book_shifted_to_its_date() -> None:
    monday, friday = demo.sample(date(2025, 3, 10)), demo.sample(date(2025, 3, 14))
    assert monday.rows["customers"] == friday.rows["customers"]
    assert monday.rows["contacts"] == friday.rows["contacts"]
    for kind in ("invoices", "payments", "rates"):
        assert len(monday.rows[kind]) == len(friday.rows[kind])
    for a, b in zip(monday.rows["invoices"], friday.rows["invoices"], strict=True):
        assert (a["number"], a["amount"], a["status"]) == (b["number"], b["amount"], b["status"])
        shift = date.fromisoformat(b["due_date"]) - date.fromisoformat(a["due_date"])
        assert shift == timedelta(days=4)
    assert monday.rows["rates"][-1]["date"] == "2025-03-10"


def test_the_sample_keeps_to_the_rules_of_the_book() -> None:
    today = date(2025, 3, 10)
    book = demo.sample(today)
    accounts = {c["account"] for c in book.rows["customers"]}
    assert len(accounts) == len(book.rows["customers"])
    assert all(c["customer"] in accounts for c in book.rows["contacts"])
    amounts = {i["number"]: Decimal(i["amount"]) for i in book.rows["invoices"]}
    paid: dict[str, Decimal] = {}
    for payment in book.rows["payments"]:
        assert date.fromisoformat(payment["date"]) < today
        paid[payment["invoice"]] = paid.get(payment["invoice"], Decimal(0)) + Decimal(
            payment["amount"])
    assert all(0 < paid[number] <= amounts[number] for number in paid)
    keys = [(p["invoice"], p["date"], p["amount"]) for p in book.rows["payments"]]
    assert len(keys) == len(set(keys))
    promises = {i["number"]: date.fromisoformat(i["promised_date"])
                for i in book.rows["invoices"] if i["status"] == "promised"}
    assert all(paid.get(number, 0) < amounts[number] for number in promises)
    assert any(d < today for d in promises.values())      # some promises are broken
    assert any(d >= today for d in promises.values())
    assert all(i["promised_date"] == "" for i in book.rows["invoices"]
               if i["status"] != "promised")
    for rate in book.rows["rates"]:
        assert Decimal("0.08") < Decimal(rate["rate"]) < Decimal("0.11")


def test_the_demo_gives_the_daily_run_real_work(demo_cli: Any) -> None:
    actions = demo_cli("simulate", "--format", "json").assert_success().json()["actions"]
    assert {a["hierarchy"] for a in actions} == {"KEY", "SE", "STD"}
    assert {"email", "letter", "activity"} <= {a["action"] for a in actions}
