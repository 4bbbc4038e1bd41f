"""What actions leave behind, through the CLI: ``activities``, ``activity close``,
``outbox`` (spec/CLI.md), and the records a run or a simulation makes."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import create_engine, text


def query(url: str, sql: str) -> list[tuple]:
    with create_engine(url).connect() as connection:
        return [tuple(r) for r in connection.execute(text(sql))]


@pytest.fixture
def book(arrears_cli, tmp_path: Path, data: Path):
    """tests/data: C1 follows KEYACC (a call after 3 days), C2–C4 the FAQ's STD hierarchy.

    Returns a setup loader taking a function that changes the parsed setup file.
    """
    for kind in ("customers", "contacts", "invoices", "rates"):
        arrears_cli("import", kind, data / f"{kind}.csv").assert_success()

    def load(change: Any = None) -> None:
        document = tomllib.loads((data / "setup.toml").read_text())
        document["email_template"][0]["body"]["en"]["html"] = str(data / "reminder_en.html")
        if change is not None:
            change(document)
        path = tmp_path / "setup.toml"
        path.write_text(tomli_w.dumps(document))
        arrears_cli("setup", "load", path).assert_success()

    load()
    return load


def run(cli: Any, day: str) -> dict[str, Any]:
    return cli("run", "--as-of", day, "--format", "json").assert_success().json()


def test_activities_list_and_close(book, arrears_cli):
    result = run(arrears_cli, "2025-01-18")
    assert [(a["customer"], a["action"], a["recipient"]) for a in result["actions"]
            if a["action"] == "activity"] == [("C1", "activity", "ANNA")]
    [activity] = arrears_cli("activities", "--format", "json").assert_success().json()[
        "activities"]
    assert activity == {
        "id": activity["id"], "customer": "C1", "invoice": "INV-1", "hierarchy": "KEYACC",
        "step": "Call", "template": "CALL", "type": "call", "purpose": "Collect overdue balance",
        "details": "Call Nordic Key AB about INV-1", "agent": "ANNA", "due_date": "2025-01-20",
        "status": "open", "created": "2025-01-18", "closed": None}
    number = str(activity["id"])
    assert "Call Nordic Key AB" not in arrears_cli("activities").assert_success().stdout
    assert "Collect overdue balance" in arrears_cli("activities").stdout

    closed = arrears_cli("activity", "close", number, "--date", "2025-01-19", "--format", "json")
    assert closed.assert_success().json()["status"] == "closed"
    assert f"activity {number} (C1, call): closed on 2025-01-19" in closed.stderr
    assert arrears_cli("activities", "--open", "--format", "json").json() == {"activities": []}
    listed = arrears_cli("activities", "--format", "json").json()["activities"]
    assert [(a["status"], a["closed"]) for a in listed] == [("closed", "2025-01-19")]

    again = arrears_cli("activity", "close", number).assert_success()
    assert f"activity {number} was already closed on 2025-01-19" in again.stderr
    assert again.stdout == ""


def test_closing_an_unknown_activity_is_bad_input(book, arrears_cli):
    assert "no activity 99" in arrears_cli("activity", "close", "99").assert_exit(2).stderr
    arrears_cli("activity", "close", "first").assert_exit(2)


def test_the_outbox_lists_queued_messages(book, arrears_cli):
    result = run(arrears_cli, "2025-01-10")
    assert sorted((a["customer"], a["recipient"]) for a in result["actions"]) == [
        ("C2", "billing@keycorp.example"), ("C3", "owner@smallshop.example")]
    assert [(s["customer"], s["reason"]) for s in result["skipped"]] == [
        ("C4", 'no contact with purpose "billing"')]
    messages = arrears_cli("outbox", "--format", "json").assert_success().json()["messages"]
    assert [(m["customer"], m["to"], m["status"]) for m in messages] == [
        ("C2", "billing@keycorp.example", "queued"), ("C3", "owner@smallshop.example", "queued")]
    first = messages[0]
    assert {key: first[key] for key in ("channel", "subject", "sent", "message_id", "invoice",
                                        "step", "template", "language")} == {
        "channel": "email", "subject": "Invoice INV-2 is due on 2025-01-15", "sent": None,
        "message_id": None, "invoice": "INV-2", "step": "Pre-dunning", "template": "REMIND",
        "language": "en"}
    assert datetime.fromisoformat(first["created"])  # when it was queued
    assert arrears_cli("outbox", "--status", "sent", "--format", "json").json() == {
        "messages": []}
    assert len(arrears_cli("outbox", "--status", "queued", "--format", "json").json()[
        "messages"]) == 2
    assert "owner@smallshop.example" in arrears_cli("outbox").assert_success().stdout
    arrears_cli("outbox", "--status", "lost").assert_exit(2)


def test_activities_for_automations_through_a_run(book, arrears_cli):
    def on(document: dict[str, Any]) -> None:
        document["parameters"]["activities_for_automations"] = True

    book(on)
    run(arrears_cli, "2025-01-10")
    run(arrears_cli, "2025-01-16")
    listed = arrears_cli("activities", "--format", "json").json()["activities"]
    assert [(a["customer"], a["type"], a["status"], a["step"]) for a in listed] == [
        ("C2", "email", "closed", "Pre-dunning"), ("C3", "email", "closed", "Pre-dunning"),
        ("C2", "letter", "closed", "First notice"), ("C3", "letter", "closed", "First notice"),
        ("C4", "letter", "closed", "First notice")]
    assert listed[2]["purpose"] == \
        "Collection letter LETTER1 listing 1 invoice, total 800.00 USD"
    assert arrears_cli("activities", "--open", "--format", "json").json() == {"activities": []}


def test_simulation_and_explain_store_nothing(book, arrears_cli, arrears_db_url):
    simulated = arrears_cli("simulate", "--as-of", "2025-01-10", "--format", "json")
    assert len(simulated.assert_success().json()["actions"]) == 2
    arrears_cli("simulate", "--as-of", "2025-01-18").assert_success()
    arrears_cli("explain", "C2", "--as-of", "2025-01-16").assert_success()
    for table in ("outbox", "letter", "letter_invoice", "activity", "step_run"):
        assert query(arrears_db_url, f"SELECT count(*) FROM {table}") == [(0,)], table


def test_explain_shows_the_letter_and_its_grace_period(book, arrears_cli):
    run(arrears_cli, "2025-01-16")

    def explain() -> dict[str, Any]:
        return arrears_cli("explain", "C2", "--as-of", "2025-01-22", "--format", "json"
                           ).assert_success().json()

    details = explain()["details"]
    assert {key: details[key] for key in ("letter", "grace_from", "grace_until", "invoices",
                                          "total", "fee")} == {
        "letter": "LETTER2", "grace_from": "2025-01-16", "grace_until": "2025-01-22",
        "invoices": ["INV-2"], "total": "800.00", "fee": "5.00"}
    # The standalone run posts LETTER2 first: the run's letter waits for LETTER3's grace.
    arrears_cli("letters", "create", "--as-of", "2025-01-22").assert_success()
    trail = explain()
    assert trail["details"] == {"letter": "LETTER3", "sequence": "STD",
                                "grace_from": "2025-01-22", "grace_until": "2025-01-29"}
    step = next(s for s in trail["steps"] if s["step"] == "Second notice")
    assert (step["status"], step["reason"]) == ("not possible",
                                                "LETTER2 was already posted on 2025-01-22")


def test_empty_listings(arrears_cli):
    assert arrears_cli("activities", "--format", "json").assert_success().json() == {
        "activities": []}
    assert arrears_cli("letters", "--format", "json").assert_success().json() == {"letters": []}
    assert arrears_cli("outbox", "--format", "json").assert_success().json() == {
        "messages": []}
    assert arrears_cli("letters").assert_success().stdout.startswith("id")
