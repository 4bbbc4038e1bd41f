"""The recent_payment_days rule through the CLI, with the arrears_book fixture."""

from __future__ import annotations

import os
import subprocess
import sys

import arrears_exclude_recent_payment
import pytest

from arrears.core.testing import installed_plugin

SETUP = {
    "parameters": {"accounting_currency": "USD"},
    "pool": [{"id": "ALL"}],
    "hierarchy": [{
        "id": "STD", "pool": "ALL", "rank": 1, "exclude": {"recent_payment_days": 10},
        "step": [{"description": "Call", "action": "activity", "document": "CALL",
                  "when": "after", "days": 1}],
    }],
    "activity_template": [{"id": "CALL", "type": "call", "purpose": "Collect",
                           "days_to_complete": 2, "details": "Call {{ customer.name }}"}],
}
CUSTOMERS = [{"account": "C1", "name": "Paid lately", "currency": "USD"},
             {"account": "C2", "name": "Never paid", "currency": "USD"}]
INVOICES = [
    {"number": "INV-1", "customer": "C1", "invoice_date": "2025-01-01",
     "due_date": "2025-01-15", "amount": "100.00", "currency": "USD"},
    {"number": "INV-0", "customer": "C1", "invoice_date": "2024-12-01",
     "due_date": "2024-12-15", "amount": "50.00", "currency": "USD"},
    {"number": "INV-2", "customer": "C2", "invoice_date": "2025-01-01",
     "due_date": "2025-01-15", "amount": "100.00", "currency": "USD"},
]


@pytest.fixture
def book(arrears_book, arrears_plugin):
    arrears_plugin(arrears_exclude_recent_payment)  # a no-op once the package is installed
    arrears_book.setup(SETUP)
    arrears_book.load(customers=CUSTOMERS, invoices=INVOICES, payments=[
        # C1 settled an older invoice in full on January 12
        {"invoice": "INV-0", "date": "2025-01-12", "amount": "50.00"}])
    return arrears_book


def test_the_plugin_is_listed_as_an_installed_entry_point(arrears_cli):
    rule = installed_plugin(arrears_cli, "arrears-exclude-recent-payment")
    assert (rule["name"], rule["source"]) == ("exclude_recent_payment", "entry point")
    assert rule["hooks"] == ["exclude_customer", "register_exclusion_rules"]


def test_a_customer_who_paid_in_the_last_n_days_is_skipped_with_the_reason(book):
    # January 16-22: C1 paid on January 12, within 10 days: skipped; C2 is called.
    assert [a["customer"] for a in book.run("2025-01-16")] == ["C2"]
    excluded = [e for e in book.history("--customer", "C1") if e["kind"] == "excluded"]
    assert excluded[0]["reason"] == ("paid 50.00 USD on 2025-01-12 against INV-0, "
                                     "within the last 10 days")
    assert excluded[0]["date"] == "2025-01-16"
    assert book.run_days("2025-01-17", "2025-01-22") == {}
    # January 23 is 11 days after the payment: C1's step is due and runs.
    assert [(a["customer"], a["invoice"]) for a in book.run("2025-01-23")] == [("C1", "INV-1")]


def test_the_last_day_of_the_window_still_counts_and_later_payments_do_not(book):
    assert [a["customer"] for a in book.simulate("2025-01-22")] == ["C2"]  # 10 days after
    assert {a["customer"] for a in book.simulate("2025-01-23")} == {"C1", "C2"}
    assert {a["customer"] for a in book.simulate("2025-01-11")} == set()  # nothing due yet
    book.load(payments=[{"invoice": "INV-2", "date": "2025-02-01", "amount": "10.00"}])
    assert {a["customer"] for a in book.simulate("2025-01-23")} == {"C1", "C2"}


@pytest.mark.parametrize(("value", "problem"), [
    (0, "recent_payment_days: expected 1 or more, got 0"),
    ("ten", 'recent_payment_days: expected a whole number, got "ten"'),
])
def test_a_wrong_value_is_refused_naming_the_place(arrears_book, arrears_plugin, value, problem):
    arrears_plugin(arrears_exclude_recent_payment)
    setup = {**SETUP, "hierarchy": [{**SETUP["hierarchy"][0],
                                     "exclude": {"recent_payment_days": value}}]}
    result = arrears_book.setup(setup, check=False).assert_exit(2)
    assert 'hierarchy "STD": exclude: ' + problem in result.stderr


def test_without_the_plugin_the_rule_is_refused_by_name(tmp_path):
    import tomli_w

    path = tmp_path / "setup.toml"
    path.write_text(tomli_w.dumps(SETUP))
    env = {**os.environ, "ARREARS_DISABLE_PLUGINS": "exclude_recent_payment"}
    result = subprocess.run([sys.executable, "-m", "arrears.core", "setup", "check", str(path)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    assert "recent_payment_days" in result.stderr
