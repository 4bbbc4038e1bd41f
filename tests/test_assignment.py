"""Which hierarchy a customer follows (SEMANTICS.md §1), through `assign` and `preview`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

AS_OF = ("--as-of", "2025-01-20")


@pytest.fixture
def book(arrears_cli, data, tmp_path):
    """The sample setup and the four sample customers with invoices and rates."""
    for kind in ("customers", "contacts", "invoices", "rates"):
        arrears_cli("import", kind, data / f"{kind}.csv").assert_success()
    return load_setup(arrears_cli, data, tmp_path)


def load_setup(cli: Any, data: Path, tmp_path: Path, change=None) -> Any:
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>inline</p>"
    if change is not None:
        change(document)
    path = tmp_path / "setup.toml"
    path.write_text(tomli_w.dumps(document))
    cli("setup", "load", path).assert_success()
    return cli


def preview(cli: Any, customer: str) -> dict[str, Any]:
    return cli("preview", "customer", customer, *AS_OF, "--format", "json").assert_success().json()


def members(cli: Any, hierarchy: str) -> list[str]:
    result = cli("preview", "hierarchy", hierarchy, *AS_OF, "--format", "json").assert_success()
    return result.json()["customers"]


def test_criteria_of_a_pool_are_anded_and_the_best_rank_wins(book):
    assert preview(book, "C1") == {"customer": "C1", "hierarchy": "KEYACC", "reason": "pool:KEY"}
    assert preview(book, "C2") == {"customer": "C2", "hierarchy": "STD", "reason": "pool:ALL"}
    assert members(book, "KEYACC") == ["C1"]
    assert members(book, "STD") == ["C2", "C3", "C4"]


def test_rank_decides_between_pools(book, data, tmp_path):
    def swap(d):
        d["hierarchy"][0]["rank"], d["hierarchy"][1]["rank"] = 1, 2

    load_setup(book, data, tmp_path, swap)
    assert preview(book, "C1")["hierarchy"] == "STD"
    assert members(book, "KEYACC") == []


def test_manual_assignment_beats_every_pool_and_can_be_removed(book):
    book("assign", "C3", "KEYACC").assert_success()
    assert preview(book, "C3") == {"customer": "C3", "hierarchy": "KEYACC", "reason": "manual"}
    assert members(book, "KEYACC") == ["C1", "C3"]
    book("assign", "C3", "STD").assert_success()
    assert preview(book, "C3")["reason"] == "manual"
    book("assign", "C1", "STD").assert_success()
    listed = book("assignments", "--format", "json").assert_success().json()["assignments"]
    assert [(a["customer"], a["hierarchy"], a["in_setup"]) for a in listed] == [
        ("C1", "STD", True), ("C3", "STD", True)]
    assert "C3        STD" in book("assignments").assert_success().stdout
    book("unassign", "C1").assert_success()
    book("unassign", "C3").assert_success()
    assert preview(book, "C3") == {"customer": "C3", "hierarchy": "STD", "reason": "pool:ALL"}
    assert "had no manual assignment" in book("unassign", "C3").assert_success().stderr
    assert book("assignments").assert_success().stdout == "no manual assignments\n"


def test_a_customer_in_no_pool_gets_none(book, data, tmp_path):
    def narrow(d):
        d["pool"][0]["currency"] = "USD"

    load_setup(book, data, tmp_path, narrow)
    assert preview(book, "C4") == {"customer": "C4", "hierarchy": None, "reason": "none"}
    text = book("preview", "customer", "C4", *AS_OF).assert_success().stdout
    assert text.strip() == "C4: (none) (none)"


@pytest.mark.parametrize(("criteria", "expected"), [
    ({"sales_group": "NORTH"}, ["C1", "C2"]),
    ({"collections_agent": ["ANNA"]}, ["C1", "C3"]),
    ({"accounts": ["C2", "C4"]}, ["C2", "C4"]),
    ({"currency": ["USD", "EUR"], "country": "US"}, ["C2", "C3"]),
    ({"customer_group": "RETAIL", "balance_min": "300"}, ["C4"]),
    ({"balance_min": "400", "balance_max": "1000"}, ["C2", "C4"]),
])
def test_pool_criteria(book, data, tmp_path, criteria, expected):
    def only(d):
        d["pool"][0] = {"id": "ALL", **criteria}
        d["hierarchy"] = d["hierarchy"][:1]
        d["hierarchy"][0]["rank"] = 1

    load_setup(book, data, tmp_path, only)
    assert members(book, "STD") == expected


def test_balance_converts_at_the_rate_valid_on_the_date(book, data, tmp_path):
    # C1: 12000 SEK at 0.0905 = 1086 USD; C4: 900 EUR at 1.085 = 976.50 USD.
    def rich(d):
        d["pool"][0] = {"id": "ALL", "balance_min": "976.50"}
        d["hierarchy"] = d["hierarchy"][:1]

    load_setup(book, data, tmp_path, rich)
    assert members(book, "STD") == ["C1", "C4"]


def test_a_missing_rate_fails_that_customer_naming_currency_and_date(book, data, tmp_path):
    def rich(d):
        d["pool"][0] = {"id": "ALL", "balance_min": "100"}
        d["hierarchy"] = d["hierarchy"][:1]

    load_setup(book, data, tmp_path, rich)
    early = ("--as-of", "2025-01-05")  # the EUR rate starts on 2025-01-10
    result = book("preview", "customer", "C4", *early).assert_exit(1)
    assert "no exchange rate for EUR on or before 2025-01-05" in result.stderr
    listed = book("preview", "hierarchy", "STD", *early, "--format", "json").assert_success()
    assert listed.json()["customers"] == ["C1", "C2", "C3"]
    assert "customer C4" in listed.stderr and "EUR" in listed.stderr


def test_assign_refuses_unknown_customers_and_hierarchies(book):
    result = book("assign", "C9", "STD").assert_exit(2)
    assert 'no customer "C9"' in result.stderr
    result = book("assign", "C1", "GOLD").assert_exit(2)
    assert 'no hierarchy "GOLD" in the setup (defined: STD, KEYACC)' in result.stderr
    assert 'no hierarchy "GOLD"' in book("preview", "hierarchy", "GOLD").assert_exit(2).stderr


def test_previews_write_nothing(book, snapshot):
    before = snapshot()
    preview(book, "C1")
    members(book, "STD")
    assert snapshot() == before


def test_a_manual_assignment_outside_the_run_leaves_the_others_alone(book, tmp_path):
    """A run reads a batch's manual assignments by the range of its customers' ids: a
    customer between them that the run leaves out (nothing open) is not one of them."""
    def actions():
        result = book("simulate", *AS_OF, "--format", "json").assert_success().json()
        return result["actions"]

    before = actions()
    book("assign", "C2", "KEYACC").assert_success()
    paid = tmp_path / "paid.csv"
    paid.write_text("number,customer,invoice_date,due_date,amount,currency,open_amount\n"
                    "INV-2,C2,2025-01-01,2025-01-15,800.00,USD,0\n")
    book("import", "invoices", paid).assert_success()
    after = actions()
    assert after == [a for a in before if a["customer"] != "C2"]
    assert {a["customer"] for a in after} >= {"C1", "C3"}
