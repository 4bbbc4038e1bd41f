"""`arrears explain`: the decision trail for one customer, from the run's own code."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w


@pytest.fixture
def book(arrears_cli, tmp_path: Path, data: Path):
    files = {
        "customers": "account,name,currency\nC1,Fabrikam,USD\n",
        "contacts": "customer,email,purpose\nC1,ap@f.example,billing\n",
        "invoices": "number,customer,invoice_date,due_date,amount,currency,status\n"
                    "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD,\n"
                    "INV-2,C1,2024-12-10,2025-01-10,300.00,USD,disputed\n"
                    "INV-3,C1,2025-01-01,2025-02-01,200.00,USD,\n",
    }
    for kind, rows in files.items():
        (tmp_path / f"{kind}.csv").write_text(rows)
        arrears_cli("import", kind, tmp_path / f"{kind}.csv").assert_success()
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>hi</p>"
    (tmp_path / "setup.toml").write_text(tomli_w.dumps(document))
    arrears_cli("setup", "load", tmp_path / "setup.toml").assert_success()
    return arrears_cli


def explain(cli, customer: str, day: str) -> dict:
    return cli("explain", customer, "--as-of", day, "--format", "json").assert_success().json()


def test_the_trail_names_invoices_leading_invoice_and_every_step(book):
    book("run", "--as-of", "2025-01-16").assert_success()
    trail = explain(book, "C1", "2025-01-22")
    assert (trail["hierarchy"], trail["assignment"]) == ("STD", "pool:ALL")
    assert [(i["number"], i["eligible"], i["reason"]) for i in trail["invoices"]] == [
        ("INV-2", False, "collections status disputed"),
        ("INV-1", True, ""),
        ("INV-3", True, ""),
    ]
    assert (trail["leading"], trail["days_past_due"]) == ("INV-1", 7)
    steps = {s["step"]: (s["offset"], s["status"]) for s in trail["steps"]}
    assert steps == {
        "Pre-dunning": (-5, "nothing to do today"),
        "First notice": (1, "ran"),
        "Second notice": (7, "runs"),
        "Final notice": (14, "not due"),
        "Create activity": (15, "not due"),
    }
    assert trail["actions"][0]["document"] == "LETTER2"
    assert trail["details"]["letter"] == "LETTER2"


def test_a_letter_waiting_for_its_grace_period_says_until_when(book):
    book("run", "--as-of", "2025-01-20").assert_success()  # LETTER1 on Jan 20 (step 1)
    trail = explain(book, "C1", "2025-01-22")  # step 2 due; LETTER2 needs 6 days from Jan 20
    line = next(s for s in trail["steps"] if s["step"] == "Second notice")
    assert line["status"] == "not possible"
    assert "2025-01-26" in line["reason"]
    assert trail["not_possible"][0]["step"] == "Second notice"


def test_passed_over_steps_are_named(book):
    trail = explain(book, "C1", "2025-01-23")
    steps = {s["step"]: s["status"] for s in trail["steps"]}
    assert steps["First notice"] == "passed over" and steps["Second notice"] == "runs"


def test_a_customer_with_a_missing_rate_is_explained_as_failed(book, tmp_path):
    (tmp_path / "euro.csv").write_text("account,name,currency\nE1,Euro,EUR\n")
    book("import", "customers", tmp_path / "euro.csv").assert_success()
    (tmp_path / "euro-invoices.csv").write_text(
        "number,customer,invoice_date,due_date,amount,currency\n"
        "E-1,E1,2024-12-16,2025-01-15,50.00,EUR\n")
    book("import", "invoices", tmp_path / "euro-invoices.csv").assert_success()
    trail = explain(book, "E1", "2025-01-16")
    assert trail["error"] == "no exchange rate for EUR on or before 2025-01-16"


def test_text_output_for_a_person(book):
    text = book("explain", "C1", "--as-of", "2025-01-16").assert_success().stdout
    assert "hierarchy STD (pool:ALL)" in text
    assert "leading invoice: INV-1, 1 day past due" in text
    assert "First notice" in text and "runs" in text
    assert "leading invoice: INV-1, 2 days past due" in book(
        "explain", "C1", "--as-of", "2025-01-17").stdout
    assert "leading invoice: INV-1, due today" in book(
        "explain", "C1", "--as-of", "2025-01-15").stdout
    assert "leading invoice: INV-1, due in 5 days" in book(
        "explain", "C1", "--as-of", "2025-01-10").stdout


def test_an_excluded_customer_shows_its_invoices_and_no_step_runs(book, tmp_path, data):
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>hi</p>"
    document["hierarchy"][0]["exclude"] = {"customer_balance_below": "5000.00"}
    (tmp_path / "setup.toml").write_text(tomli_w.dumps(document))
    book("setup", "load", tmp_path / "setup.toml").assert_success()
    trail = explain(book, "C1", "2025-01-22")
    assert trail["excluded"] == "customer aging balance 1500.00 USD is less than 5000.00"
    assert [(i["number"], i["eligible"], i["reason"]) for i in trail["invoices"]] == [
        (number, False, "the customer is excluded") for number in ("INV-2", "INV-1", "INV-3")]
    assert {(s["status"], s["reason"]) for s in trail["steps"]} == {
        ("excluded", "the customer is excluded")}
    assert trail["leading"] is None and trail["actions"] == []


def test_explain_refuses_an_unknown_customer(book):
    assert 'no customer "C404"' in book("explain", "C404").assert_exit(2).stderr


def test_the_trail_is_dated_as_asked_even_when_nothing_is_due(book):
    trail = explain(book, "C1", "2025-01-02")
    assert trail["date"] == "2025-01-02"
    assert trail["actions"] == [] and trail["leading"] == "INV-1"


def reload(book, tmp_path: Path, data: Path, **parameters) -> None:
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>hi</p>"
    document["parameters"].update(parameters)
    (tmp_path / "setup.toml").write_text(tomli_w.dumps(document))
    book("setup", "load", tmp_path / "setup.toml").assert_success()


def test_with_track_step_the_steps_after_the_one_due_wait_for_it(book, tmp_path, data):
    reload(book, tmp_path, data, track_step=True)
    book("run", "--as-of", "2025-01-16").assert_success()  # First notice
    steps = {s["step"]: (s["status"], s["reason"]) for s in
             explain(book, "C1", "2025-02-05")["steps"]}
    assert steps["First notice"][0] == "ran" and steps["Second notice"][0] == "runs"
    assert steps["Final notice"] == ("waiting", "track step: runs after Second notice")
    assert steps["Create activity"] == ("waiting", "track step: runs after Second notice")


def test_an_invoice_whose_last_step_ran_is_shown_as_no_longer_leading(book, tmp_path, data):
    reload(book, tmp_path, data, exclude_after_last_step=True)
    book("run", "--as-of", "2025-01-31").assert_success()  # the last step, for INV-1
    trail = explain(book, "C1", "2025-02-03")
    assert trail["leading"] == "INV-3"
    assert [(i["number"], i["eligible"], i["reason"]) for i in trail["invoices"]][1:] == [
        ("INV-1", True, "not a leading candidate: its last step, Create activity, ran "
                        "(exclude_after_last_step)"),
        ("INV-3", True, "")]
    text = book("explain", "C1", "--as-of", "2025-02-03").assert_success().stdout
    assert "yes: not a leading candidate" in text


def test_a_step_whose_name_is_in_a_later_steps_reason_is_not_waiting(book, tmp_path, data):
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>hi</p>"
    for hierarchy in document["hierarchy"]:
        for step in hierarchy.get("step", []):
            if step["description"] == "Second notice":
                step["description"] = "First notice 2"
    (tmp_path / "setup.toml").write_text(tomli_w.dumps(document))
    book("setup", "load", tmp_path / "setup.toml").assert_success()
    book("run", "--as-of", "2025-01-22").assert_success()  # First notice 2, the first passed over
    steps = {s["step"]: (s["status"], s["reason"]) for s in
             explain(book, "C1", "2025-01-23")["steps"]}
    assert steps["First notice 2"][0] == "ran"
    assert steps["First notice"] == ("skipped", "a later step is closer to today")
