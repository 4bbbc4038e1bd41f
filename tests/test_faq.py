"""The FAQ's scenarios (seeds/collections-process-automation-faq.md), day by day via the CLI.

Steps: pre-dunning email 5 days before the due date; letters after 1, 7 and 14
days; an activity after 15. Letter sequence grace days 1, 6, 7. One invoice
due January 15.
"""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w

DUE = date(2025, 1, 15)


@pytest.fixture
def faq(arrears_cli, tmp_path: Path, data: Path):
    """One customer, one invoice due January 15, the FAQ's hierarchy; returns a setup loader."""
    (tmp_path / "customers.csv").write_text("account,name,currency,language\n"
                                            "C1,Fabrikam Inc,USD,en\n")
    (tmp_path / "contacts.csv").write_text("customer,email,purpose\n"
                                           "C1,ap@fabrikam.example,billing\n")
    (tmp_path / "invoices.csv").write_text(
        "number,customer,invoice_date,due_date,amount,currency\n"
        "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n")
    for kind in ("customers", "contacts", "invoices"):
        arrears_cli("import", kind, tmp_path / f"{kind}.csv").assert_success()

    def load(track_step: bool = False) -> None:
        document = tomllib.loads((data / "setup.toml").read_text())
        document["parameters"]["track_step"] = track_step
        document["email_template"][0]["body"]["en"]["html"] = "<p>{{ invoice.number }}</p>"
        path = tmp_path / "setup.toml"
        path.write_text(tomli_w.dumps(document))
        arrears_cli("setup", "load", path).assert_success()

    load()
    return load


def run_days(cli: Any, first: date, last: date) -> dict[date, list[tuple[str, str, str]]]:
    """Run every day from *first* to *last*; (step, action, document) done each day."""
    done = {}
    day = first
    while day <= last:
        result = cli("run", "--as-of", day.isoformat(), "--format", "json").assert_success()
        actions = result.json()["actions"]
        if actions:
            done[day] = [(a["step"], a["action"], a["document"]) for a in actions]
        day += timedelta(days=1)
    return done


def jan(day: int) -> date:
    return date(2025, 1, day)


def feb(day: int) -> date:
    return date(2025, 2, day)


def test_the_letter_sequence_with_steps_at_1_7_and_14_days(faq, arrears_cli):
    assert run_days(arrears_cli, jan(1), feb(5)) == {
        jan(10): [("Pre-dunning", "email", "REMIND")],
        jan(16): [("First notice", "letter", "LETTER1")],
        jan(22): [("Second notice", "letter", "LETTER2")],
        jan(29): [("Final notice", "letter", "LETTER3")],
        jan(30): [("Create activity", "activity", "CALL")],
    }
    letters = arrears_cli("letters", "--format", "json").assert_success().json()["letters"]
    assert [(entry["code"], entry["date"]) for entry in letters] == [
        ("LETTER1", "2025-01-16"), ("LETTER2", "2025-01-22"), ("LETTER3", "2025-01-29")]


def test_a_dispute_resolved_9_days_past_due_runs_only_the_7_day_step(faq, arrears_cli):
    assert run_days(arrears_cli, jan(10), jan(11)) == {
        jan(10): [("Pre-dunning", "email", "REMIND")]}
    arrears_cli("invoice", "status", "INV-1", "disputed").assert_success()
    assert run_days(arrears_cli, jan(12), jan(23)) == {}
    arrears_cli("invoice", "status", "INV-1", "resolved").assert_success()
    assert run_days(arrears_cli, jan(24), jan(24)) == {
        jan(24): [("Second notice", "letter", "LETTER1")]}
    passed = arrears_cli("history", "--customer", "C1", "--format", "json").json()["entries"]
    assert {"step": "First notice", "kind": "skipped", "date": "2025-01-24"}.items() <= next(
        e for e in passed if e["step"] == "First notice").items()


def test_a_dispute_resolved_17_days_past_due_runs_only_the_activity(faq, arrears_cli):
    run_days(arrears_cli, jan(10), jan(10))
    arrears_cli("invoice", "status", "INV-1", "disputed").assert_success()
    assert run_days(arrears_cli, jan(11), feb(1)) == {}
    arrears_cli("invoice", "status", "INV-1", "resolved").assert_success()
    assert run_days(arrears_cli, feb(2), feb(10)) == {
        feb(2): [("Create activity", "activity", "CALL")]}


def test_with_track_step_the_schedule_replays_from_the_day_of_resolution(faq, arrears_cli):
    faq(track_step=True)
    run_days(arrears_cli, jan(10), jan(10))
    arrears_cli("invoice", "status", "INV-1", "disputed").assert_success()
    assert run_days(arrears_cli, jan(11), feb(1)) == {}
    arrears_cli("invoice", "status", "INV-1", "resolved").assert_success()
    assert run_days(arrears_cli, feb(2), feb(28)) == {
        feb(2): [("First notice", "letter", "LETTER1")],
        feb(8): [("Second notice", "letter", "LETTER2")],
        feb(15): [("Final notice", "letter", "LETTER3")],
        feb(16): [("Create activity", "activity", "CALL")],
    }


def test_simulation_shows_the_day_s_letter_step_before_the_run(faq, arrears_cli):
    run_days(arrears_cli, jan(1), jan(21))
    simulated = arrears_cli("simulate", "--as-of", "2025-01-22", "--format", "json")
    actions = simulated.assert_success().json()["actions"]
    assert actions == [{"customer": "C1", "hierarchy": "STD", "step": "Second notice",
                        "action": "letter", "invoice": "INV-1", "date": "2025-01-22",
                        "document": "LETTER2", "recipient": None}]
    ran = arrears_cli("run", "--as-of", "2025-01-22", "--format", "json").json()["actions"]
    assert ran == actions
