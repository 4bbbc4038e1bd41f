"""The daily run's rules (SEMANTICS.md §2, §3, §6) through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomli_w
from sqlalchemy import create_engine, text

from arrears.core import book, hookimpl


def write(path: Path, text_: str) -> Path:
    path.write_text(text_)
    return path


@pytest.fixture
def setup_loader(arrears_cli, tmp_path: Path, data: Path):
    """Load the sample setup; its STD hierarchy without pre-dunning unless *pre_dunning*."""
    def load(change=None, pre_dunning: bool = False) -> None:
        document = tomllib.loads((data / "setup.toml").read_text())
        document["email_template"][0]["body"]["en"]["html"] = "<p>{{ invoice.number }}</p>"
        if not pre_dunning:
            document["hierarchy"][0]["step"] = document["hierarchy"][0]["step"][1:]
        if change is not None:
            change(document)
        arrears_cli("setup", "load", write(tmp_path / "setup.toml",
                                           tomli_w.dumps(document))).assert_success()
    return load


def quiet_days(days: int) -> Any:
    """A setup change: the STD hierarchy's quiet days."""
    def change(document: dict[str, Any]) -> None:
        document["hierarchy"][0]["quiet_days"] = days
    return change


def import_rows(cli: Any, tmp_path: Path, kind: str, rows: str) -> None:
    cli("import", kind, write(tmp_path / f"{kind}.csv", rows)).assert_success()


def run(cli: Any, day: str, code: int = 0) -> dict[str, Any]:
    return cli("run", "--as-of", day, "--format", "json").assert_exit(code).json()


def query(url: str, sql: str) -> list[tuple]:
    with create_engine(url).connect() as connection:
        return [tuple(r) for r in connection.execute(text(sql))]


def fabrikam(cli: Any, tmp_path: Path, invoices: str) -> None:
    """Import customer C1 (Fabrikam, USD) with its billing contact and *invoices* (CSV
    rows without the header)."""
    import_rows(cli, tmp_path, "customers", "account,name,currency\nC1,Fabrikam,USD\n")
    import_rows(cli, tmp_path, "contacts", "customer,email,purpose\nC1,ap@f.example,billing\n")
    import_rows(cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n" + invoices)


@pytest.fixture
def one_customer(arrears_cli, tmp_path, setup_loader):
    fabrikam(arrears_cli, tmp_path,
             "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n"
             "INV-2,C1,2024-12-20,2025-01-20,500.00,USD\n")
    setup_loader()
    return arrears_cli


# --- §6 runs ---------------------------------------------------------------------------


def test_a_successful_run_is_not_repeated_for_its_date(one_customer):
    first = run(one_customer, "2025-01-16")
    assert first["status"] == "success" and len(first["actions"]) == 1
    again = run(one_customer, "2025-01-16")
    assert again == {"run": first["run"], "date": "2025-01-16", "status": "already-ran",
                     "actions": [], "skipped": [], "errors": []}


def test_a_date_before_the_last_successful_run_is_refused(one_customer, arrears_db_url):
    run(one_customer, "2025-01-16")
    result = one_customer("run", "--as-of", "2025-01-10").assert_exit(2)
    assert "2025-01-10 is before the last successful run (2025-01-16" in result.stderr
    assert query(arrears_db_url, "SELECT count(*) FROM run") == [(1,)]
    # Simulate shows what a run would do: a run would be refused, so is the simulation.
    simulated = one_customer("simulate", "--as-of", "2025-01-10").assert_exit(2)
    assert "2025-01-10 is before the last successful run (2025-01-16" in simulated.stderr
    assert "arrears explain CUSTOMER --as-of 2025-01-10" in simulated.stderr
    one_customer("explain", "C1", "--as-of", "2025-01-10").assert_success()


def test_simulation_writes_nothing(one_customer, snapshot):
    before = snapshot()
    result = one_customer("simulate", "--as-of", "2025-01-16", "--format", "json")
    assert [a["step"] for a in result.assert_success().json()["actions"]] == ["First notice"]
    one_customer("explain", "C1", "--as-of", "2025-01-16").assert_success()
    assert snapshot() == before


def test_simulate_one_hierarchy(one_customer):
    assert one_customer("simulate", "--hierarchy", "KEYACC", "--as-of", "2025-01-16",
                        "--format", "json").assert_success().json()["actions"] == []
    assert "no hierarchy" in one_customer("simulate", "--hierarchy", "NOPE").assert_exit(2).stderr


def test_a_run_that_crashed_mid_batch_finishes_without_repeating(arrears_cli, tmp_path,
                                                                 setup_loader, arrears_plugin,
                                                                 arrears_db_url, monkeypatch):
    rows = "".join(f"C{i},Customer {i},USD\n" for i in range(1, 8))
    import_rows(arrears_cli, tmp_path, "customers", "account,name,currency\n" + rows)
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                + "".join(f"INV-{i},C{i},2024-12-16,2025-01-15,100.00,USD\n" for i in range(1, 8)))
    setup_loader()
    monkeypatch.setattr(book, "BATCH", 2)

    class PowerCut(BaseException):  # not an Exception: a plugin's error fails one customer
        pass

    @hookimpl(tryfirst=True)
    def execute_action(action):
        if action.customer == "C4":
            raise PowerCut("the machine stopped")

    plugin = arrears_plugin(execute_action, name="crash")
    with pytest.raises(PowerCut):  # in this process: batches in order (see test_workers.py)
        arrears_cli("run", "--as-of", "2025-01-16", "--workers", "1")
    letters_before = query(arrears_db_url, "SELECT count(*) FROM letter")[0][0]
    assert letters_before == 2  # the first batch (C1, C2) committed, C3's batch did not
    assert query(arrears_db_url, "SELECT status FROM run") == [("interrupted",)]  # on its way out

    arrears_cli.pm.unregister(plugin)
    second = run(arrears_cli, "2025-01-16")
    assert second["status"] == "success"
    assert sorted(a["customer"] for a in second["actions"]) == ["C3", "C4", "C5", "C6", "C7"]
    assert query(arrears_db_url, "SELECT count(*), count(DISTINCT customer_id) FROM letter") \
        == [(7, 7)]
    assert query(arrears_db_url, "SELECT status FROM run ORDER BY id") == [
        ("interrupted",), ("success",)]


SLOW_RUN = """
import sys, time
from pathlib import Path
from arrears.core import cli, hookimpl, plugins

class Slow:
    @hookimpl(tryfirst=True)
    def execute_action(self, action):
        Path(sys.argv[1]).write_text("acting")
        time.sleep(60)

def plugin_manager():
    pm = plugins.get_plugin_manager()
    pm.register(Slow(), name="slow")
    return pm

cli.get_plugin_manager = plugin_manager
cli.main(["--db", sys.argv[2], "run", "--as-of", "2025-01-16", "--workers", "1"])
"""


def test_a_run_stopped_by_sigterm_is_interrupted_and_says_so(one_customer, arrears_db_url,
                                                             tmp_path):
    import signal

    marker = tmp_path / "acting"
    stopped = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(marker), arrears_db_url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "ARREARS_LOAD_PLUGINS": ""})
    try:
        for _ in range(600):
            if marker.exists() or stopped.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), stopped.communicate()
        stopped.send_signal(signal.SIGTERM)
        out, err = stopped.communicate(timeout=30)
    finally:
        stopped.kill()
    assert stopped.returncode == 1 and "Traceback" not in err
    assert "Error: run 1 for 2025-01-16 was interrupted (Ctrl-C or SIGTERM): the batches it " \
        "finished are saved; run again to finish" in err
    assert query(arrears_db_url, "SELECT status FROM run") == [("interrupted",)]
    assert run(one_customer, "2025-01-16")["status"] == "success"


def test_a_run_warns_of_unfinished_earlier_days_and_later_ones(one_customer, arrears_db_url,
                                                               tmp_path):
    imported = one_customer("import", "invoices", write(
        tmp_path / "nok.csv", "number,customer,invoice_date,due_date,amount,currency\n"
                              "NOK-1,C1,2024-12-20,2025-01-10,50.00,NOK\n")).assert_success()
    assert "warning: no exchange rate for NOK at all: a customer with open NOK invoices " \
        "fails every run where an amount must be converted" in imported.stderr  # as C1 will
    assert "NOK" in one_customer("import", "invoices", tmp_path / "nok.csv", "--format",
                                 "json").assert_success().json()["warnings"][0]
    first = one_customer("run", "--as-of", "2025-01-16").assert_exit(1)
    assert "warning" not in first.stderr
    second = one_customer("run", "--as-of", "2025-01-17").assert_exit(1)
    assert "warning: the run for 2025-01-16 (run 1) did not finish (status errors): once " \
        "2025-01-17 has succeeded, 2025-01-16 can no longer be run; `arrears run --as-of " \
        "2025-01-16` first finishes it" in second.stderr
    replay = one_customer("run", "--as-of", "2025-01-16").assert_exit(1)
    assert "warning: 2025-01-17 has been run already (run 2): 2025-01-16 is decided with " \
        "the book as it is now, statuses, payments and steps since included" in replay.stderr


def test_an_import_waits_for_the_run_in_progress(one_customer, arrears_db_url, tmp_path):
    from arrears.core.db import Database

    payments = write(tmp_path / "payments.csv", "invoice,date,amount\nINV-1,2025-01-10,1000\n")
    db = Database(arrears_db_url)
    try:
        with db.run_lock():
            waiting = subprocess.Popen(
                [sys.executable, "-m", "arrears.core", "--db", arrears_db_url, "import",
                 "payments", str(payments)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env={**os.environ, "ARREARS_LOAD_PLUGINS": ""})
            time.sleep(1.5)
            assert waiting.poll() is None  # it waits for the lock
            assert query(arrears_db_url, "SELECT count(*) FROM payment") == [(0,)]
    finally:
        db.dispose()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "waiting for another arrears run to finish" in err
    assert query(arrears_db_url, "SELECT count(*) FROM payment") == [(1,)]


def test_two_runs_at_once_never_interleave(one_customer, arrears_db_url, tmp_path):
    env = {**os.environ, "ARREARS_DB": arrears_db_url}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from arrears.core.db import Database; "
         f"db = Database({arrears_db_url!r}); lock = db.run_lock(); lock.__enter__(); "
         "print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = subprocess.run([sys.executable, "-m", "arrears.core", "run", "--as-of",
                                  "2025-01-16", "--no-wait"], capture_output=True, text=True,
                                 env=env)
        assert refused.returncode == 1
        assert "another arrears run is in progress" in refused.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "arrears.core", "run", "--as-of",
                                    "2025-01-16", "--format", "json"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(1.5)
        assert waiting.poll() is None  # it waits for the lock
    finally:
        holder.kill()
        holder.wait()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "waiting for another arrears run" in err
    assert query(arrears_db_url, "SELECT count(*) FROM letter") == [(1,)]


# --- §2 eligibility -----------------------------------------------------------------------


def test_a_passed_promise_is_broken_and_recorded(one_customer, arrears_db_url, tmp_path,
                                                 arrears_plugin):
    mirrored = []

    @hookimpl
    def record_history(entries):  # a plugin mirroring the history sees every entry
        mirrored.extend(e for e in entries if e.kind == "status")

    arrears_plugin(record_history, name="mirror")
    one_customer("invoice", "status", "INV-1", "promised", "--date", "2025-01-18").assert_success()
    assert run(one_customer, "2025-01-16")["actions"] == []  # promised: skipped
    assert run(one_customer, "2025-01-18")["actions"] == []  # due today: not broken yet
    assert query(arrears_db_url, "SELECT status FROM invoice WHERE number='INV-1'") == [
        ("promised",)]
    result = run(one_customer, "2025-01-19")
    assert query(arrears_db_url, "SELECT status FROM invoice WHERE number='INV-1'") == [
        ("broken",)]
    assert [a["step"] for a in result["actions"]] == ["First notice"]
    entries = one_customer("history", "--format", "json").json()["entries"]
    status = [e for e in entries if e["kind"] == "status" and e["run"] == result["run"]]
    assert status[0]["invoice"] == "INV-1"
    assert "promise to pay by 2025-01-18 broken" in status[0]["reason"]
    assert [(e.customer, e.invoice, e.run, e.reason) for e in mirrored] == [
        ("C1", "INV-1", result["run"], status[0]["reason"])]
    # The day's invoice file, imported again as it was, changes nothing and is not refused.
    before = query(arrears_db_url, "SELECT status, promised_date FROM invoice ORDER BY id")
    import_rows(one_customer, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n"
                "INV-2,C1,2024-12-20,2025-01-20,500.00,USD\n")
    assert query(arrears_db_url, "SELECT status, promised_date FROM invoice ORDER BY id") == \
        before
    # Nor does an ERP's extract that still tells of the promise the run found broken.
    import_rows(one_customer, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency,status,promised_date\n"
                "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD,promised,2025-01-18\n")
    assert query(arrears_db_url, "SELECT status, promised_date FROM invoice ORDER BY id") == \
        before
    assert query(arrears_db_url, "SELECT count(*) FROM history WHERE kind = 'status'") == [(2,)]


def test_thresholds_compare_in_the_accounting_currency(arrears_cli, tmp_path, setup_loader):
    import_rows(arrears_cli, tmp_path, "customers",
                "account,name,currency\nE1,Euro Small,EUR\nE2,Euro Big,EUR\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "E-1,E1,2024-12-16,2025-01-15,9.00,EUR\n"
                "E-2,E2,2024-12-16,2025-01-15,9.50,EUR\n")
    import_rows(arrears_cli, tmp_path, "rates", "currency,date,rate\nEUR,2025-01-01,1.06\n"
                "EUR,2025-01-20,1.1111\n")

    def threshold(d):
        d["hierarchy"][0]["exclude"] = {"customer_balance_below": "10.00"}

    setup_loader(threshold)
    # E1: 9.00 EUR = 9.54 USD < 10 (excluded); E2: 9.50 EUR = 10.07 USD (acts).
    result = run(arrears_cli, "2025-01-16")
    assert [a["customer"] for a in result["actions"]] == ["E2"]
    excluded = arrears_cli("history", "--customer", "E1", "--format", "json").json()["entries"]
    assert excluded[0]["kind"] == "excluded"
    assert excluded[0]["reason"] == "customer aging balance 9.54 USD is less than 10.00"
    # 9.00 EUR = 9.9999 USD: below, though 10.00 in cents; the reason must not say 10.00.
    later = arrears_cli("explain", "E1", "--as-of", "2025-01-20", "--format", "json").json()
    assert later["excluded"] == "customer aging balance 9.9999 USD is less than 10.00"


def test_a_missing_rate_fails_that_customer_and_the_run_can_be_repeated(
        arrears_cli, tmp_path, setup_loader):
    import_rows(arrears_cli, tmp_path, "customers",
                "account,name,currency\nE1,Euro,EUR\nU1,Dollar,USD\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "E-1,E1,2024-12-16,2025-01-15,90.00,EUR\n"
                "U-1,U1,2024-12-16,2025-01-15,90.00,USD\n")
    setup_loader()
    result = run(arrears_cli, "2025-01-16", code=1)
    assert result["status"] == "errors"
    assert result["errors"] == [{"customer": "E1", "step": None, "invoice": None,
                                 "reason": "no exchange rate for EUR on or before 2025-01-16"}]
    assert [a["customer"] for a in result["actions"]] == ["U1"]
    import_rows(arrears_cli, tmp_path, "rates", "currency,date,rate\nEUR,2025-01-01,1.06\n")
    again = run(arrears_cli, "2025-01-16")
    assert again["status"] == "success"
    assert [a["customer"] for a in again["actions"]] == ["E1"]


def test_invoices_below_the_amount_threshold_are_ignored(one_customer, setup_loader):
    def threshold(d):
        d["hierarchy"][0]["exclude"] = {"invoice_amount_below": "600"}

    setup_loader(threshold)
    result = run(one_customer, "2025-01-22")  # both overdue; INV-2 (500) does not count
    assert [(a["invoice"], a["step"]) for a in result["actions"]] == [("INV-1", "Second notice")]
    letter = one_customer("letters", "--format", "json").json()["letters"][0]
    assert [i["number"] for i in letter["invoices"]] == ["INV-1"]
    entries = one_customer("history", "--format", "json").json()["entries"]
    assert {"invoice": "INV-2", "kind": "excluded",
            "reason": "invoice amount 500.00 USD is less than 600"}.items() <= next(
        e for e in entries if e["invoice"] == "INV-2").items()


# --- §3 quiet days, leading invoice ----------------------------------------------------------


def test_the_leading_invoice_is_the_oldest_due_then_invoice_date_then_number(
        arrears_cli, tmp_path, setup_loader):
    # Two customers read in one batch, their invoices interleaved by due date: each
    # customer's leading invoice is its own oldest due, ties broken by invoice date, then
    # by number (SEMANTICS.md §2), whatever the order they were imported in.
    import_rows(arrears_cli, tmp_path, "customers",
                "account,name,currency\nC1,Fabrikam,USD\nC2,Contoso,USD\n")
    import_rows(arrears_cli, tmp_path, "contacts", "customer,email,purpose\n"
                "C1,ap@f.example,billing\nC2,ap@c.example,billing\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-A,C1,2024-12-20,2025-01-15,100.00,USD\n"
                "INV-Z,C2,2024-12-10,2025-01-14,100.00,USD\n"
                "INV-B,C1,2024-12-16,2025-01-15,100.00,USD\n"
                "INV-Y,C2,2024-12-10,2025-01-14,100.00,USD\n"
                "INV-C,C1,2024-12-01,2025-01-16,100.00,USD\n"
                "INV-X,C2,2024-12-01,2025-01-15,100.00,USD\n")
    setup_loader()
    result = run(arrears_cli, "2025-01-17")
    assert sorted((a["customer"], a["invoice"]) for a in result["actions"]) == [
        ("C1", "INV-B"), ("C2", "INV-Y")]


def test_an_email_goes_to_the_first_contact_imported_for_its_purpose(
        arrears_cli, tmp_path, setup_loader):
    import_rows(arrears_cli, tmp_path, "customers",
                "account,name,currency\nC1,Fabrikam,USD\nC2,Contoso,USD\n")
    import_rows(arrears_cli, tmp_path, "contacts", "customer,email,purpose\n"
                "C2,z@c.example,billing\nC1,y@f.example,billing\n"
                "C1,b@f.example,billing\nC2,a@c.example,billing\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-1,C1,2024-12-16,2025-01-15,100.00,USD\n"
                "INV-2,C2,2024-12-16,2025-01-15,100.00,USD\n")
    setup_loader(pre_dunning=True)  # its email goes to the billing contact
    result = run(arrears_cli, "2025-01-12")
    assert sorted((a["customer"], a["action"], a["recipient"]) for a in result["actions"]) == [
        ("C1", "email", "y@f.example"), ("C2", "email", "z@c.example")]


def test_quiet_days_hold_a_step_even_after_the_leading_invoice_is_settled(
        arrears_cli, tmp_path, setup_loader):
    import_rows(arrears_cli, tmp_path, "customers", "account,name,currency\nC1,Fabrikam,USD\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n"
                "INV-2,C1,2024-12-17,2025-01-16,500.00,USD\n")

    setup_loader(quiet_days(3))
    assert [a["invoice"] for a in run(arrears_cli, "2025-01-16")["actions"]] == ["INV-1"]
    import_rows(arrears_cli, tmp_path, "payments",
                "invoice,date,amount\nINV-1,2025-01-17,1000.00\n")
    # INV-2 leads now and its first notice is due, but the customer heard from us on Jan 16.
    assert run(arrears_cli, "2025-01-17")["actions"] == []
    assert run(arrears_cli, "2025-01-18")["actions"] == []
    entries = arrears_cli("history", "--customer", "C1", "--format", "json").json()["entries"]
    held = [e for e in entries if e["kind"] == "skipped"]
    assert [(e["date"], e["invoice"], e["step"]) for e in held] == [
        ("2025-01-18", "INV-2", "First notice"), ("2025-01-17", "INV-2", "First notice")]
    assert held[0]["reason"] == ("held by quiet days: last contact on 2025-01-16, "
                                 "no contact before 2025-01-19")
    result = run(arrears_cli, "2025-01-19")
    assert [(a["invoice"], a["step"], a["document"]) for a in result["actions"]] == [
        ("INV-2", "First notice", "LETTER1")]


def test_pre_dunning_acts_once_per_invoice_in_its_window_and_ignores_quiet_days(
        arrears_cli, tmp_path, setup_loader):
    fabrikam(arrears_cli, tmp_path,
             "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n"
             "INV-2,C1,2024-12-20,2025-01-17,500.00,USD\n"
             "INV-3,C1,2024-12-01,2025-01-09,200.00,USD\n")

    setup_loader(quiet_days(10), pre_dunning=True)
    first = run(arrears_cli, "2025-01-12")
    # INV-3 was first seen after its due date: no pre-dunning for it; its letter goes out.
    assert sorted((a["invoice"], a["step"]) for a in first["actions"]) == [
        ("INV-1", "Pre-dunning"), ("INV-2", "Pre-dunning"), ("INV-3", "First notice")]
    assert run(arrears_cli, "2025-01-13")["actions"] == []  # once per invoice
    outbox = arrears_cli("outbox", "--format", "json").json()["messages"]
    assert sorted(m["to"] for m in outbox) == ["ap@f.example"] * 2
    # INV-4 enters its window during the quiet period: pre-dunning is not held.
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-4,C1,2024-12-20,2025-01-19,50.00,USD\n")
    assert [(a["invoice"], a["step"]) for a in run(arrears_cli, "2025-01-14")["actions"]] == [
        ("INV-4", "Pre-dunning")]


def test_the_pre_dunning_window_runs_from_days_before_the_due_date_to_the_due_date(
        arrears_cli, tmp_path, setup_loader):
    # SEMANTICS.md §4: due − days ≤ run date ≤ due; the setup's window is 5 days.
    fabrikam(arrears_cli, tmp_path,
             "DUE-TODAY,C1,2024-12-14,2025-01-14,100.00,USD\n"
             "DUE-IN-5,C1,2024-12-19,2025-01-19,100.00,USD\n"
             "DUE-IN-6,C1,2024-12-20,2025-01-20,100.00,USD\n")
    setup_loader(pre_dunning=True)
    actions = run(arrears_cli, "2025-01-14")["actions"]
    assert sorted((a["invoice"], a["step"]) for a in actions) == [
        ("DUE-IN-5", "Pre-dunning"), ("DUE-TODAY", "Pre-dunning")]


def test_history_is_purged_after_the_retention(one_customer, setup_loader, arrears_db_url):
    def short(d):
        d["parameters"]["history_days"] = 30

    setup_loader(short)
    run(one_customer, "2025-01-16")
    assert query(arrears_db_url, "SELECT count(*) FROM history WHERE date = '2025-01-16'") != [(0,)]
    run(one_customer, "2025-02-16")
    assert query(arrears_db_url, "SELECT count(*) FROM history WHERE date = '2025-01-16'") == [(0,)]


def test_history_lists_decisions_newest_first_in_the_cli_shape(one_customer):
    run(one_customer, "2025-01-16")
    entries = one_customer("history", "--format", "json").assert_success().json()["entries"]
    assert set(entries[0]) >= {"run", "date", "hierarchy", "customer", "invoice", "step",
                               "kind", "reason"}
    action = next(e for e in entries if e["kind"] == "action")
    assert (action["customer"], action["invoice"], action["step"]) == ("C1", "INV-1",
                                                                       "First notice")
    assert one_customer("history", "--hierarchy", "KEYACC", "--format", "json").json() == {
        "entries": []}
    assert [e["customer"] for e in one_customer("history", "--customer", "C1", "--format",
                                                "json").json()["entries"]] == ["C1"]
    # A mistyped account is not an empty history, as it is not for `letters` or `explain`.
    unknown = one_customer("history", "--customer", "C404").assert_exit(2)
    assert unknown.stderr == 'Error: --customer: no customer "C404"\n'


def test_a_day_after_today_is_simulated_but_never_run(one_customer, arrears_db_url):
    """A mistyped year (2062 for 2026) would act decades early, purge the history kept
    and refuse every real day after it: a command that acts takes no day to come."""
    from datetime import date, timedelta

    later = (date.today() + timedelta(days=2)).isoformat()  # after today in any timezone
    assert one_customer("simulate", "--as-of", later, "--format", "json").assert_success()
    for command in (["run"], ["letters", "create"]):
        refused = one_customer(*command, "--as-of", later).assert_exit(2)
        assert f"--as-of: {later} is after today (" in refused.stderr
        assert "`arrears simulate --as-of`" in refused.stderr
    assert query(arrears_db_url, "SELECT count(*) FROM run") == [(0,)]
    assert query(arrears_db_url, "SELECT count(*) FROM history") == [(0,)]


@pytest.mark.parametrize("day", ["2025-1-16", "16.01.2025", "2025-01-16T00:00", "2025-02-30"])
def test_an_option_date_is_yyyy_mm_dd_exactly_as_in_the_csv_files(one_customer, day):
    for args in (["run", "--as-of", day], ["simulate", "--as-of", day],
                 ["invoice", "status", "INV-1", "promised", "--date", day]):
        refused = one_customer(*args).assert_exit(2)
        assert f'"{day}" is not a date (YYYY-MM-DD)' in refused.stderr or \
            f'"{day}" is not a day of the calendar' in refused.stderr


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31"])
def test_a_run_date_out_of_range_is_refused_and_changes_nothing(one_customer, arrears_db_url,
                                                                 day):
    for command in ("run", "simulate"):
        result = one_customer(command, "--as-of", day).assert_exit(2)
        assert f"'--as-of': \"{day}\" is not a date arrears takes (from 1900-01-01 to " \
            "2999-12-31)" in result.stderr
    assert query(arrears_db_url, "SELECT count(*) FROM run") == [(0,)]


def test_a_letter_total_too_large_to_store_fails_its_customer_alone(arrears_cli, tmp_path,
                                                                   setup_loader):
    huge = "".join(f"H-{n},C1,2024-12-16,2025-01-15,9000000000000000.00,USD\n"
                   for n in range(11))  # each can be stored; their total cannot
    fabrikam(arrears_cli, tmp_path, huge)
    import_rows(arrears_cli, tmp_path, "customers", "account,name,currency\nC2,Small,USD\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "S-1,C2,2024-12-16,2025-01-15,10.00,USD\n")
    setup_loader()
    result = run(arrears_cli, "2025-01-16", code=1)
    assert [(a["customer"], a["action"]) for a in result["actions"]] == [("C2", "letter")]
    assert result["errors"] == [{"customer": "C1", "step": "First notice", "invoice": "H-0",
                                 "reason": "99000000000000000.00 USD is more than arrears can "
                                 "store"}]
    assert result["status"] == "errors"


def test_simulate_says_which_steps_would_not_be_possible(arrears_cli, tmp_path, setup_loader):
    import_rows(arrears_cli, tmp_path, "customers", "account,name,currency\nC1,Fabrikam,USD\n")
    import_rows(arrears_cli, tmp_path, "invoices",  # and no contact to email
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n")
    setup_loader(pre_dunning=True)
    line = 'not possible: C1 Pre-dunning (INV-1): no contact with purpose "billing"'
    simulated = arrears_cli("simulate", "--as-of", "2025-01-12").assert_success()
    assert line in simulated.stderr.splitlines()
    ran = arrears_cli("run", "--as-of", "2025-01-12").assert_success()
    assert line in ran.stdout.splitlines()


def test_the_history_does_not_hold_on_to_an_invoice_it_only_names(
        arrears_cli, tmp_path, setup_loader, arrears_db_url):
    from arrears.core.db import Database

    fabrikam(arrears_cli, tmp_path, "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n"
                                    "INV-2,C1,2024-12-20,2025-01-20,500.00,USD\n")
    arrears_cli("invoice", "status", "INV-2", "disputed").assert_success()
    setup_loader()
    run(arrears_cli, "2025-01-21")
    # An integrator deletes the disputed invoice, with the foreign keys arrears enforces.
    db = Database(arrears_db_url)
    with db.begin() as connection:
        connection.execute(text("DELETE FROM invoice WHERE number = 'INV-2'"))
    db.dispose()
    entries = arrears_cli("history", "--customer", "C1", "--format", "json").json()["entries"]
    named = sorted((e["kind"], e["invoice"] or "", e["reason"]) for e in entries
                   if e["kind"] != "action")
    assert named == [("excluded", "", "collections status disputed"),
                     ("status", "", "collections status none -> disputed, set by hand")]
    assert [(e["invoice"], e["step"]) for e in entries if e["kind"] == "action"] == [
        ("INV-1", "First notice")]
    # What was done keeps its invoice: one with a step run cannot be deleted.
    with pytest.raises(Exception, match="(?i)foreign key"):
        with db.begin() as connection:
            connection.execute(text("DELETE FROM invoice WHERE number = 'INV-1'"))
    db.dispose()


def test_an_email_already_in_the_outbox_is_never_queued_twice(arrears_cli, tmp_path,
                                                              setup_loader, arrears_db_url):
    fabrikam(arrears_cli, tmp_path,
             "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n")
    setup_loader(pre_dunning=True)
    assert [a["step"] for a in run(arrears_cli, "2025-01-12")["actions"]] == ["Pre-dunning"]
    # Lose the record of the step having run: the outbox still knows the message.
    with create_engine(arrears_db_url).begin() as connection:
        connection.execute(text("DELETE FROM step_run"))
    assert [a["step"] for a in run(arrears_cli, "2025-01-13")["actions"]] == ["Pre-dunning"]
    assert query(arrears_db_url, "SELECT count(*) FROM outbox") == [(1,)]


def test_today_is_the_date_in_the_setup_s_timezone(one_customer, setup_loader):
    # UTC-12 and UTC+14 are 26 hours apart: their dates differ at every moment.
    dates = {}
    for zone in ("Etc/GMT+12", "Etc/GMT-14"):
        def set_zone(d, zone=zone):
            d["parameters"]["timezone"] = zone

        setup_loader(set_zone)
        result = one_customer("simulate", "--format", "json").assert_success().json()
        dates[zone] = result["date"]
        assert result["date"] == datetime.now(ZoneInfo(zone)).date().isoformat()
    assert dates["Etc/GMT+12"] < dates["Etc/GMT-14"]


def only_steps(*descriptions: str, quiet_days: int = 0, **parameters: Any):
    """A setup change: STD keeps only the named steps; parameters set as given."""
    def change(d):
        std = d["hierarchy"][0]
        std["step"] = [s for s in std["step"] if s["description"] in descriptions]
        std["quiet_days"] = quiet_days
        d["parameters"].update(parameters)
    return change


@pytest.mark.parametrize("exclude_after_last_step", [False, True])
def test_exclude_invoice_after_last_step(one_customer, setup_loader, exclude_after_last_step):
    setup_loader(only_steps("First notice", exclude_after_last_step=exclude_after_last_step))
    assert [a["invoice"] for a in run(one_customer, "2025-01-16")["actions"]] == ["INV-1"]
    later = run(one_customer, "2025-01-22")["actions"]
    if not exclude_after_last_step:
        assert later == []  # INV-1 still leads and its only step ran
        return
    # INV-1's last step ran: INV-2 leads; INV-1 stays open and is still listed.
    assert [(a["invoice"], a["document"]) for a in later] == [("INV-2", "LETTER2")]
    letter = one_customer("letters", "--format", "json").json()["letters"][-1]
    assert [i["number"] for i in letter["invoices"]] == ["INV-1", "INV-2"]


def test_standalone_letters_are_not_contacts_for_quiet_days(one_customer, setup_loader):
    setup_loader(only_steps("Create activity", quiet_days=10))
    one_customer("letters", "create", "--as-of", "2025-01-30").assert_success()
    # The activity (15 days after January 15) is not held by the letter of the day before.
    result = run(one_customer, "2025-01-31")
    assert [(a["invoice"], a["action"]) for a in result["actions"]] == [("INV-1", "activity")]


# --- §3–§7 rules each pinned at its edge (found unpinned by mutation testing) ----------------


def steps_of(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["invoice"], a["step"]) for a in result["actions"]]


def test_track_step_keeps_the_spacing_of_a_step_that_is_no_letter(one_customer, setup_loader):
    def tracked(d):
        d["parameters"]["track_step"] = True
        d["hierarchy"][0]["step"][1].update(  # Second notice, +7: an email, no grace days
            action="email", document="REMIND", recipient="customer", contact_purpose="billing")

    setup_loader(tracked)
    assert steps_of(run(one_customer, "2025-01-20")) == [("INV-1", "First notice")]  # late
    # Second notice is due on Jan 22 by its offset, but keeps its 6 days after the first.
    assert steps_of(run(one_customer, "2025-01-22")) == []
    assert steps_of(run(one_customer, "2025-01-25")) == []
    assert steps_of(run(one_customer, "2025-01-26")) == [("INV-1", "Second notice")]


def test_pre_dunning_counts_as_contact_for_quiet_days_a_failed_step_does_not(
        arrears_cli, tmp_path, setup_loader):
    fabrikam(arrears_cli, tmp_path, "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n")
    import_rows(arrears_cli, tmp_path, "customers", "account,name,currency\nC2,Nobody,USD\n")
    import_rows(arrears_cli, tmp_path, "invoices",  # C2: no contact, its emails fail
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-9,C2,2024-12-16,2025-01-15,1000.00,USD\n")

    setup_loader(quiet_days(3), pre_dunning=True)
    day = run(arrears_cli, "2025-01-15")
    assert steps_of(day) == [("INV-1", "Pre-dunning")]
    assert [(s["customer"], s["step"]) for s in day["skipped"]] == [("C2", "Pre-dunning")]
    # C1 heard from us yesterday: held. C2 did not (a failed attempt is no contact).
    assert steps_of(run(arrears_cli, "2025-01-16")) == [("INV-9", "First notice")]
    assert steps_of(run(arrears_cli, "2025-01-18")) == [("INV-1", "First notice")]


def test_a_customer_moved_to_another_hierarchy_starts_it_afresh(one_customer, setup_loader,
                                                               tmp_path):
    def same_names(d):
        d["hierarchy"][1]["quiet_days"] = 0
        d["hierarchy"][1]["step"][0].update(description="First notice", days=1)

    setup_loader(same_names)
    assert steps_of(run(one_customer, "2025-01-16")) == [("INV-1", "First notice")]  # STD
    import_rows(one_customer, tmp_path, "customers",
                "account,name,currency,customer_group,country\nC1,Fabrikam,USD,KEY,SE\n")
    moved = run(one_customer, "2025-01-17")  # KEYACC now: its own First notice, never run
    assert [(a["hierarchy"], a["step"], a["action"]) for a in moved["actions"]] == [
        ("KEYACC", "First notice", "activity")]


def test_steps_are_taken_in_the_order_of_their_offsets_not_of_the_file(one_customer,
                                                                       setup_loader):
    def reversed_steps(d):
        d["hierarchy"][0]["step"].reverse()

    setup_loader(reversed_steps)
    assert steps_of(run(one_customer, "2025-01-16")) == [("INV-1", "First notice")]
    assert steps_of(run(one_customer, "2025-01-22")) == [("INV-1", "Second notice")]


def test_an_invoice_below_the_amount_threshold_gets_no_pre_dunning(one_customer, setup_loader):
    def threshold(d):
        d["hierarchy"][0]["exclude"] = {"invoice_amount_below": "600"}

    setup_loader(threshold, pre_dunning=True)
    # INV-2 (500, due Jan 20) is in its window, INV-1 (1000, due Jan 15) overdue.
    assert steps_of(run(one_customer, "2025-01-17")) == [("INV-1", "First notice")]


def test_the_balance_counts_promised_invoices_and_thresholds_are_strict(one_customer,
                                                                       setup_loader):
    def thresholds(d):  # C1 owes 1000 + 500: exactly the balance threshold
        d["hierarchy"][0]["exclude"] = {"customer_balance_below": "1500.00",
                                        "invoice_amount_below": "500.00"}

    setup_loader(thresholds)
    one_customer("invoice", "status", "INV-1", "promised", "--date", "2025-02-28"
                 ).assert_success()
    # Neither 1500 < 1500 nor 500 < 500; the promised INV-1 still counts in the balance.
    assert steps_of(run(one_customer, "2025-01-21")) == [("INV-2", "First notice")]


def test_history_is_kept_for_exactly_the_retention_days(one_customer, setup_loader,
                                                        arrears_db_url):
    def short(d):
        d["parameters"]["history_days"] = 30

    setup_loader(short)
    run(one_customer, "2025-01-16")
    run(one_customer, "2025-02-15")  # 30 days later: Jan 16 is kept
    assert query(arrears_db_url, "SELECT count(*) FROM history WHERE date = '2025-01-16'") != [(0,)]
    run(one_customer, "2025-02-16")
    assert query(arrears_db_url, "SELECT count(*) FROM history WHERE date = '2025-01-16'") == [(0,)]


def test_simulate_one_hierarchy_lists_its_actions_only(one_customer, setup_loader, tmp_path):
    import_rows(one_customer, tmp_path, "customers",
                "account,name,currency,customer_group,country\nK1,Key,USD,KEY,SE\n")
    import_rows(one_customer, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "K-1,K1,2024-12-16,2025-01-10,1000.00,USD\n")

    def simulated(hierarchy: str) -> list[tuple[str, str]]:
        return [(a["customer"], a["hierarchy"]) for a in one_customer(
            "simulate", "--hierarchy", hierarchy, "--as-of", "2025-01-16", "--format", "json"
        ).assert_success().json()["actions"]]

    assert simulated("STD") == [("C1", "STD")]
    assert simulated("KEYACC") == [("K1", "KEYACC")]


def test_an_email_to_the_sales_group_or_the_agent_through_a_run(arrears_cli, tmp_path,
                                                                setup_loader):
    import_rows(arrears_cli, tmp_path, "customers",
                "account,name,currency,sales_group,collections_agent\n"
                "C1,Fabrikam,USD,NORTH,ANNA\nC2,Nobody's,USD,,\n")
    import_rows(arrears_cli, tmp_path, "invoices",
                "number,customer,invoice_date,due_date,amount,currency\n"
                "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD\n"
                "INV-2,C2,2024-12-16,2025-01-15,1000.00,USD\n")

    def to_parties(d):
        steps = d["hierarchy"][0]["step"]
        steps[0].update(action="email", document="REMIND", recipient="sales_group")
        steps[1].update(action="email", document="REMIND", recipient="collections_agent")

    setup_loader(to_parties)
    first = run(arrears_cli, "2025-01-16")
    assert [(a["customer"], a["recipient"]) for a in first["actions"]] == [
        ("C1", "north@example.com")]
    assert [(s["customer"], s["reason"]) for s in first["skipped"]] == [
        ("C2", "customer C2 has no sales group")]
    second = run(arrears_cli, "2025-01-22")
    assert [(a["customer"], a["recipient"]) for a in second["actions"]] == [
        ("C1", "anna@example.com")]
    assert [(s["customer"], s["reason"]) for s in second["skipped"]] == [
        ("C2", "customer C2 has no collections agent")]
    sent = arrears_cli("outbox", "--format", "json").json()["messages"]
    assert sorted(m["to"] for m in sent) == ["anna@example.com", "north@example.com"]
