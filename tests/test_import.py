"""``arrears import KIND FILE`` through the real CLI (docs/csv.md), each test on a real
SQLite file and on a fresh PostgreSQL database (the ``arrears_db_url`` fixture of
``arrears.core.testing``; the PostgreSQL half needs ``ARREARS_TEST_PG_URL``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, create_engine, select

from arrears.core import imports, money, schema
from arrears.core.db import parse_url
from arrears.core.testing import Cli

TABLES = [schema.customer, schema.contact, schema.invoice, schema.payment, schema.rate,
          schema.history]

CUSTOMERS = """account,name,currency
C1,Acme,EUR
C2,Gulf Trading,BHD
C3,Tokyo KK,JPY
"""

INVOICES = """number,customer,invoice_date,due_date,amount,currency
INV-1,C1,2025-01-01,2025-01-31,100.00,EUR
INV-2,C2,2025-01-05,2025-02-04,2.675,BHD
INV-3,C3,2025-01-10,2025-02-09,15000,JPY
"""


@pytest.fixture
def engine(arrears_db_url: str) -> Iterator[Engine]:
    engine = create_engine(parse_url(arrears_db_url))
    yield engine
    engine.dispose()


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    """``csv_file(name, text)`` writes a file in tmp_path (text as given, or raw bytes)."""
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path
    return write


@pytest.fixture
def run(arrears_cli: Any) -> Callable[..., Any]:
    """``run(kind, path, code=0)``: ``arrears import KIND PATH``, asserting the exit code."""
    def do(kind: str, path: Path | str, code: int = 0, *options: str) -> Any:
        return arrears_cli("import", kind, str(path), *options).assert_exit(code)
    return do


@pytest.fixture
def book(run: Callable[..., Any], csv_file: Callable[..., Path]) -> None:
    """Three customers (EUR, BHD, JPY) with one invoice each."""
    run("customers", csv_file("customers.csv", CUSTOMERS))
    run("invoices", csv_file("invoices.csv", INVOICES))


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """Every row of *table*, as dicts, in primary key order."""
    with engine.connect() as connection:
        result = connection.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(row._mapping) for row in result]


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    return {table.name: rows(engine, table) for table in TABLES}


def one(engine: Engine, table: Table, **where: Any) -> dict[str, Any]:
    found = [row for row in rows(engine, table)
             if all(row[key] == value for key, value in where.items())]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def rejected(engine: Engine, run: Callable[..., Any],
             csv_file: Callable[..., Path]) -> Callable[..., str]:
    """``rejected(kind, name, text)``: the import exits 2, changes nothing; its stderr."""
    def check(kind: str, name: str, content: str | bytes) -> str:
        before = snapshot(engine)
        result = run(kind, csv_file(name, content), 2)
        assert snapshot(engine) == before, "a rejected import changed the database"
        assert result.stdout == ""
        return result.stderr
    return check


# --- happy paths ----------------------------------------------------------------------


def test_customers_are_inserted_with_their_optional_columns(run, csv_file, engine):
    path = csv_file("customers.csv", "account,name,currency,customer_group,country,language,"
                    "sales_group,collections_agent,letter_sequence,credit_limit\n"
                    "C1,Acme,eur,RETAIL,DE,de,SG1,AG1,STD,5000.50\n"
                    "C2,Gulf,BHD,,,,,,,\n")
    result = run("customers", path)
    assert "2 added, 0 updated" in result.stdout
    acme = one(engine, schema.customer, account="C1")
    assert acme["currency"] == "EUR"
    assert (acme["customer_group"], acme["country"], acme["language"]) == ("RETAIL", "DE", "de")
    assert (acme["sales_group"], acme["collections_agent"], acme["letter_sequence"]) == (
        "SG1", "AG1", "STD")
    assert acme["credit_limit_minor"] == 500050
    gulf = one(engine, schema.customer, account="C2")
    assert gulf["customer_group"] is None and gulf["credit_limit_minor"] is None


def test_customers_upsert_by_account(run, csv_file, engine):
    run("customers", csv_file("a.csv", "account,name,currency,country,customer_group\n"
                              "C1,Acme,EUR,DE,RETAIL\nC2,Bee,USD,US,RETAIL\n"))
    result = run("customers", csv_file("b.csv", "account,name,currency,country\n"
                                       "C1,Acme GmbH,EUR,\nC2,Bee,USD,US\nC3,Cee,GBP,GB\n"))
    assert "1 added, 1 updated" in result.stdout
    acme = one(engine, schema.customer, account="C1")
    # A column in the file sets (an empty cell clears); a column not in it is kept.
    assert (acme["name"], acme["country"], acme["customer_group"]) == ("Acme GmbH", None,
                                                                       "RETAIL")
    assert len(rows(engine, schema.customer)) == 3
    ids = [row["id"] for row in rows(engine, schema.customer)]
    run("customers", csv_file("b.csv", "account,name,currency,country\nC1,Acme GmbH,EUR,\n"))
    assert [row["id"] for row in rows(engine, schema.customer)] == ids


def test_contacts_keep_import_order_and_upsert(run, csv_file, engine, book):
    run("contacts", csv_file("contacts.csv", "customer,email,purpose,name\n"
                             "C1,b@acme.example,billing,Bob\n"
                             "C1,a@acme.example,billing,Ann\n"
                             "C2,x@gulf.example,billing,\n"))
    result = run("contacts", csv_file("more.csv", "customer,email,purpose,name,phone\n"
                                      "C1,z@acme.example,billing,Zed,\n"
                                      "C1,a@acme.example,billing,Ann Smith,+49 1\n"))
    assert "1 added, 1 updated" in result.stdout
    contacts = sorted(rows(engine, schema.contact), key=lambda row: row["position"])
    assert [c["email"] for c in contacts] == ["b@acme.example", "a@acme.example",
                                              "x@gulf.example", "z@acme.example"]
    ann = one(engine, schema.contact, email="a@acme.example")
    assert (ann["name"], ann["phone"]) == ("Ann Smith", "+49 1")
    assert len({c["position"] for c in contacts}) == 4


def test_invoices_are_inserted_with_exact_minor_units(engine, book):
    invoices = {row["number"]: row for row in rows(engine, schema.invoice)}
    assert invoices["INV-1"]["amount_minor"] == invoices["INV-1"]["open_minor"] == 10000
    bhd = invoices["INV-2"]
    assert (bhd["amount_minor"], bhd["open_minor"], bhd["currency"]) == (2675, 2675, "BHD")
    assert money.from_minor(bhd["amount_minor"], "BHD") == Decimal("2.675")
    assert invoices["INV-3"]["amount_minor"] == 15000
    assert all(row["status"] == "none" and row["promised_date"] is None
               for row in invoices.values())
    customers = {row["id"]: row["account"] for row in rows(engine, schema.customer)}
    assert customers[invoices["INV-2"]["customer_id"]] == "C2"


def test_invoices_with_open_amount_status_and_promise(run, csv_file, engine, book):
    run("invoices", csv_file("more.csv",
                             "number,customer,invoice_date,due_date,amount,currency,"
                             "open_amount,status,promised_date\n"
                             "INV-4,C1,2025-02-01,2025-03-01,250.00,EUR,50,disputed,\n"
                             "INV-5,C1,2025-02-01,2025-03-01,80.5,EUR,,promised,2025-03-15\n"))
    disputed = one(engine, schema.invoice, number="INV-4")
    assert (disputed["open_minor"], disputed["status"]) == (5000, "disputed")
    promised = one(engine, schema.invoice, number="INV-5")
    assert (promised["open_minor"], promised["status"]) == (8050, "promised")
    assert promised["promised_date"].isoformat() == "2025-03-15"


def test_invoice_update_keeps_an_empty_status_and_records_a_change(run, csv_file, engine,
                                                                   book):
    header = "number,customer,invoice_date,due_date,amount,currency,status\n"
    run("invoices", csv_file("a.csv", header + "INV-1,C1,2025-01-01,2025-01-31,100,EUR,"
                                               "disputed\n"))
    result = run("invoices", csv_file("b.csv", header + "INV-1,C1,2025-01-01,2025-02-28,100,"
                                                        "EUR,\n"))
    assert "0 added, 1 updated" in result.stdout
    invoice = one(engine, schema.invoice, number="INV-1")
    assert (invoice["status"], invoice["due_date"].isoformat()) == ("disputed", "2025-02-28")
    history = rows(engine, schema.history)
    assert [(h["kind"], h["invoice_id"]) for h in history] == [("status", invoice["id"])]
    assert "none -> disputed" in history[0]["reason"]


def test_reimporting_the_same_invoices_changes_nothing(run, csv_file, engine, book):
    before = snapshot(engine)
    result = run("invoices", csv_file("invoices.csv", INVOICES))
    assert "0 added, 0 updated" in result.stdout
    assert snapshot(engine) == before


def test_bom_crlf_quotes_and_spaces(run, csv_file, engine):
    content = ('\ufeff account , Name ,currency\r\n'
               ' C1 , "Acme, Inc." , eur \r\n'
               'C2,"Say ""hi""",USD\r\n'
               '\r\n')
    run("customers", csv_file("customers.csv", content.encode("utf-8")))
    assert one(engine, schema.customer, account="C1")["name"] == "Acme, Inc."
    assert one(engine, schema.customer, account="C1")["currency"] == "EUR"
    assert one(engine, schema.customer, account="C2")["name"] == 'Say "hi"'


def test_what_spreadsheets_add_is_read_as_meant(run, csv_file, engine):
    """Excel's "sep=," line, its rows and columns of empty cells where the sheet's used
    range is larger than the data, a status in capitals."""
    run("customers", csv_file("customers.csv", "sep=,\naccount,name,currency,,\n"
                                               "C1,Acme,EUR,,\n,,,,\n,,,,\n"))
    assert [c["account"] for c in rows(engine, schema.customer)] == ["C1"]
    run("invoices", csv_file("invoices.csv",
                             "number,customer,invoice_date,due_date,amount,currency,status\n"
                             "INV-1,C1,2025-01-01,2025-01-31,10.00,EUR,Disputed\n"))
    assert one(engine, schema.invoice, number="INV-1")["status"] == "disputed"
    # A last row of several lines is fine when its quote is closed (spaces after it too).
    run("customers", csv_file("last.csv", 'account,name,currency,address\r\n'
                                          'C1,Acme,EUR,"Street 1\r\nTown" \r\n'))
    assert one(engine, schema.customer, account="C1")["address"] == "Street 1\r\nTown"


def test_a_customer_s_currency_changes_only_with_its_credit_limit(run, rejected, csv_file,
                                                                   engine):
    """The limit is kept in minor units of the customer's currency: a new currency alone
    would turn 50,000.00 EUR into 5,000,000 JPY."""
    run("customers", csv_file("a.csv", "account,name,currency,credit_limit\n"
                                       "C1,Acme,EUR,50000.00\nC2,Bee,EUR,\n"))
    stderr = rejected("customers", "b.csv", "account,name,currency\nC1,Acme,JPY\n")
    assert ("b.csv:2: currency: changes from EUR to JPY, and the credit limit (50000.00 EUR) "
            "is kept in EUR: give credit_limit in JPY in this file (empty to clear it)") in stderr
    run("customers", csv_file("c.csv", "account,name,currency\nC2,Bee,JPY\n"))  # no limit
    run("customers", csv_file("d.csv", "account,name,currency,credit_limit\n"
                                       "C1,Acme,JPY,8000000\n"))
    acme = one(engine, schema.customer, account="C1")
    assert (acme["currency"], acme["credit_limit_minor"]) == ("JPY", 8000000)


def test_header_only_file_imports_nothing(run, csv_file, engine):
    result = run("customers", csv_file("customers.csv", "account,name,currency\n"))
    assert "0 added, 0 updated" in result.stdout
    assert rows(engine, schema.customer) == []


def test_json_summary(run, csv_file):
    result = run("customers", csv_file("customers.csv", CUSTOMERS), 0, "--format", "json")
    assert result.json() == {"kind": "customers", "file": str(csv_file("customers.csv",
                                                                      CUSTOMERS)),
                             "rows": 3, "inserted": 3, "updated": 0, "warnings": []}


def test_reimporting_payments_changes_nothing(run, csv_file, engine, book):
    content = ("invoice,date,amount,reference\n"
               "INV-1,2025-02-01,40.00,BANK-1\n"
               "INV-1,2025-02-01,40.00,BANK-2\n"
               "INV-2,2025-02-02,0.675,\n")
    result = run("payments", csv_file("payments.csv", content))
    assert "3 added, 0 updated" in result.stdout
    assert one(engine, schema.invoice, number="INV-1")["open_minor"] == 2000
    assert one(engine, schema.invoice, number="INV-2")["open_minor"] == 2000
    before = snapshot(engine)
    result = run("payments", csv_file("payments.csv", content))
    assert "0 added, 0 updated" in result.stdout
    assert snapshot(engine) == before
    # Within a bigger file, only the new payment counts.
    run("payments", csv_file("more.csv", content + "INV-1,2025-02-03,5,BANK-3\n"))
    assert one(engine, schema.invoice, number="INV-1")["open_minor"] == 1500
    assert len(rows(engine, schema.payment)) == 4


def test_payments_reduce_open_amounts(run, csv_file, engine, book):
    run("payments", csv_file("p1.csv", "invoice,date,amount\n"
                             "INV-1,2025-02-01,30.00\nINV-2,2025-02-02,0.675\n"))
    assert one(engine, schema.invoice, number="INV-1")["open_minor"] == 7000
    assert one(engine, schema.invoice, number="INV-2")["open_minor"] == 2000
    run("payments", csv_file("p2.csv", "invoice,date,amount\n"
                             "INV-1,2025-02-01,30.00\nINV-1,2025-02-10,70\n"))
    assert one(engine, schema.invoice, number="INV-1")["open_minor"] == 0
    payments = rows(engine, schema.payment)
    assert sorted(p["amount_minor"] for p in payments) == [675, 3000, 7000]
    assert {p["reference"] for p in payments} == {""}


def test_invoice_update_without_open_amount_counts_recorded_payments(run, csv_file, engine,
                                                                     book):
    run("payments", csv_file("p.csv", "invoice,date,amount\nINV-1,2025-02-01,30.00\n"))
    header = "number,customer,invoice_date,due_date,amount,currency\n"
    run("invoices", csv_file("i.csv", header + "INV-1,C1,2025-01-01,2025-01-31,120.00,EUR\n"))
    invoice = one(engine, schema.invoice, number="INV-1")
    assert (invoice["amount_minor"], invoice["open_minor"]) == (12000, 9000)


def test_rates_are_stored_exactly_and_upserted(run, csv_file, engine):
    run("rates", csv_file("rates.csv", "currency,date,rate\n"
                          "USD,2025-01-01,0.923456789012\njpy,2025-01-01,0.0061\n"))
    stored = {(r["currency"], r["date"].isoformat()): r["rate"] for r in rows(engine,
                                                                               schema.rate)}
    assert stored == {("USD", "2025-01-01"): Decimal("0.923456789012"),
                      ("JPY", "2025-01-01"): Decimal("0.0061")}
    result = run("rates", csv_file("rates.csv", "currency,date,rate\n"
                                   "USD,2025-01-01,0.93\nUSD,2025-01-02,0.94\n"
                                   "JPY,2025-01-01,0.0061\n"))
    assert "1 added, 1 updated" in result.stdout
    stored = {(r["currency"], r["date"].isoformat()): r["rate"] for r in rows(engine,
                                                                               schema.rate)}
    assert stored == {("USD", "2025-01-01"): Decimal("0.93"),
                      ("USD", "2025-01-02"): Decimal("0.94"),
                      ("JPY", "2025-01-01"): Decimal("0.0061")}


# --- faults: exit 2, FILE:LINE: COLUMN: message, nothing changed ------------------------


def test_the_message_names_file_line_column_and_value(rejected, book, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stderr = rejected("invoices", "invoices.csv",
                      "number,customer,invoice_date,due_date,amount,currency\n"
                      "INV-7,C1,2025-01-01,2025-01-31,10.00,EUR\n"
                      "INV-8,C1,2025-01-01,not-a-date,10.00,EUR\n")
    assert 'invoices.csv:3: due_date: "not-a-date" is not a date (YYYY-MM-DD)' in stderr


def test_every_problem_is_listed_in_line_order(rejected, book):
    stderr = rejected("invoices", "bad.csv",
                      "number,customer,invoice_date,due_date,amount,currency\n"
                      "INV-7,C404,2025-01-01,2025-02-30,-5.00,EUR\n"
                      "INV-8,C1,2025-01-01,2025-01-31,ten,EUR\n"
                      "INV-9,C1,2025-01-01,2025-01-31,1.00,EURO\n")
    lines = [line.removeprefix("Error: ") for line in stderr.splitlines()]
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in lines] == ["2", "2", "2", "3",
                                                                         "4"]
    assert any(line.endswith('bad.csv:2: due_date: "2025-02-30" is not a day of the calendar')
               for line in lines)
    assert any('bad.csv:2: amount: "-5.00" is negative: a credit note' in line
               for line in lines)
    assert any(line.endswith('bad.csv:2: customer: no customer "C404"') for line in lines)
    assert any('bad.csv:3: amount: "ten" is not an amount' in line for line in lines)
    assert any('bad.csv:4: currency: "EURO" is not an ISO 4217 currency code' in line
               for line in lines)


@pytest.mark.parametrize(("kind", "content", "expected"), [
    ("customers", "account,name,currency,colour\nC9,X,EUR,red\n",
     'f.csv:1: unknown column "colour"'),
    ("customers", "account,name\nC9,X\n", 'f.csv:1: missing required column "currency"'),
    ("customers", "account,name,currency,name\nC9,X,EUR,Y\n",
     'f.csv:1: column "name" appears twice'),
    ("customers", "account,name,currency\nC9,X,EUR\nC10,Y\n",
     "f.csv:3: has 2 cells, the header has 3"),
    ("customers", "account,name,currency\nC9,X,EUR\nC9,Y,EUR\n",
     'f.csv:3: account: duplicate "C9" (also on line 2)'),
    ("customers", "account,name,currency\nC9,,EUR\n", "f.csv:2: name: is empty (required)"),
    ("customers", "account,name,currency,credit_limit\nC9,X,EUR,-1\n",
     'f.csv:2: credit_limit: "-1" is negative'),
    ("customers", "account,name,currency\n" + "C9," + "x" * 301 + ",EUR\n",
     "f.csv:2: name: is longer than 300 characters (301)"),
    ("customers", "account,name,currency\nC9,\"nul\x00here\",EUR\n",
     "f.csv:2: name: holds the control character U+0000, which is not allowed here"),
    ("contacts", "customer,email,purpose\nC1,a@b.example,bill\x00ing\n",
     "f.csv:2: purpose: holds the control character U+0000, which is not allowed here"),
    ("customers", "account,name,currency\nC9,\"\x1b]0;PWNED\x07\x1b[2J\",EUR\n",
     "f.csv:2: name: holds the control character U+001B, which is not allowed here"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "\"INV-7\r\nBcc: x@evil.example\",C1,2025-01-01,2025-01-31,1,EUR\n",
     "f.csv:2: number: holds a line break, which is not allowed here"),
    ("customers", "account,name,currency,address\nC9,X,EUR,\"" + "line\n" * 11 + "\"\n",
     "f.csv:2: address: has more than 10 lines (11)"),
    ("customers", "account,name,currency,address\nC9,X,EUR," + "x" * 501 + "\n",
     "f.csv:2: address: is longer than 500 characters (501)"),
    ("contacts", "customer,email,purpose\nC404,a@b.example,billing\n",
     'f.csv:2: customer: no customer "C404"'),
    ("contacts", "customer,email,purpose\nC1,not-an-address,billing\n",
     'f.csv:2: email: "not-an-address" is not an email address'),
    ("contacts", 'customer,email,purpose\nC1,"Ann<ann@b.example>",billing\n',
     'f.csv:2: email: "Ann<ann@b.example>" is not an email address'),
    ("contacts", 'customer,email,purpose\nC1,"a@b.example,c@d.example",billing\n',
     'f.csv:2: email: "a@b.example,c@d.example" is not an email address'),
    ("contacts", "customer,email,purpose\nC1,a@b.example,billing\nC1,a@b.example,billing\n",
     'f.csv:3: customer,email,purpose: duplicate "C1", "a@b.example", "billing" '
     "(also on line 2)"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,1,EUR\nINV-7,C1,2025-01-01,2025-01-31,2,EUR\n",
     'f.csv:3: number: duplicate "INV-7" (also on line 2)'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C3,2025-01-01,2025-01-31,100.5,JPY\n",
     'f.csv:2: amount: "100.5" has more decimals than JPY allows (0)'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C2,2025-01-01,2025-01-31,2.6755,BHD\n",
     'f.csv:2: amount: "2.6755" has more decimals than BHD allows (3)'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,\"1,000.00\",EUR\n",
     'f.csv:2: amount: "1,000.00" is not an amount'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,1_000,EUR\n",
     'f.csv:2: amount: "1_000" is not an amount'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,\u0661\u0662\u0663,EUR\n",
     'f.csv:2: amount: "\u0661\u0662\u0663" is not an amount'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,-100000000000000000000000000000,EUR\n",
     'f.csv:2: amount: "-100000000000000000000000000000" is too large'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,-99999999999999999999,EUR\n",
     'f.csv:2: amount: "-99999999999999999999" is negative'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31,99999999999999999999,EUR\n",
     'f.csv:2: amount: "99999999999999999999" is too large'),
    ("customers", "account,name,currency,credit_limit\nC9,X,EUR,-100000000000000000000000000000\n",
     'f.csv:2: credit_limit: "-100000000000000000000000000000" is too large'),
    ("rates", "currency,date,rate\nSEK,2025-01-01,100000000000000000000.0000000000001\n",
     'f.csv:2: rate: "100000000000000000000.0000000000001" is too large'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency,open_amount\n"
                 "INV-7,C1,2025-01-01,2025-01-31,10,EUR,11\n",
     "f.csv:2: open_amount: 11.00 is more than the amount 10.00"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-31,2025-01-01,10,EUR\n",
     "f.csv:2: due_date: 2025-01-01 is before the invoice date 2025-01-31: are the two "
     "columns swapped?"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency,status\n"
                 "INV-7,C1,2025-01-01,2025-01-31,10,EUR,paid\n",
     'f.csv:2: status: "paid" is not a collections status'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency,status\n"
                 "INV-7,C1,2025-01-01,2025-01-31,10,EUR,promised\n",
     "f.csv:2: promised_date: status promised needs the promised payment date"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency,promised_date\n"
                 "INV-7,C1,2025-01-01,2025-01-31,10,EUR,2025-02-01\n",
     "f.csv:2: promised_date: only status promised takes a date"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,20250101,2025-01-31,10,EUR\n",
     'f.csv:2: invoice_date: "20250101" is not a date (YYYY-MM-DD)'),
    ("payments", "invoice,date,amount\nINV-404,2025-02-01,1.00\n",
     'f.csv:2: invoice: no invoice "INV-404"'),
    ("payments", "invoice,date,amount\nINV-1,2025-02-01,-1.00\n",
     'f.csv:2: amount: "-1.00" is negative'),
    ("payments", "invoice,date,amount\nINV-1,2025-02-01,0\n",
     'f.csv:2: amount: "0" is not more than zero'),
    ("payments", "invoice,date,amount\nINV-1,2025-02-01,1.001\n",
     'f.csv:2: amount: "1.001" has more decimals than EUR allows (2)'),
    ("payments", "invoice,date,amount\nINV-1,2025-02-01,100.01\n",
     "f.csv:2: amount: payments to invoice INV-1 (100.01 in this file) exceed its open "
     "amount 100.00"),
    ("payments", "invoice,date,amount\nINV-1,2025-02-01,60\nINV-3,2025-02-01,1\n"
                 "INV-1,2025-02-02,50\n",
     "f.csv:4: amount: payments to invoice INV-1 (110.00 in this file) exceed its open "
     "amount 100.00"),
    ("payments", "invoice,date,amount\nINV-1,2025-02-01,1\nINV-1,2025-02-01,1.00\n",
     'f.csv:3: invoice,date,amount,reference: duplicate "INV-1"'),
    ("rates", "currency,date,rate\nUSD,2025-01-01,0\n", 'f.csv:2: rate: "0" is not positive'),
    ("rates", "currency,date,rate\nUSD,2025-01-01,-1.1\n",
     'f.csv:2: rate: "-1.1" is not a rate'),
    ("rates", "currency,date,rate\nUSD,2025-01-01,1.1\nusd,2025-01-01,1.2\n",
     'f.csv:3: currency,date: duplicate "USD", "2025-01-01" (also on line 2)'),
    # What ERP and spreadsheet exports hold, each told what to write instead.
    ("customers", 'account,name,currency,address\nC9,X,EUR,"Street 1\nC10,Y,USD,Road 2\n',
     'f.csv:2: a quoted cell that starts on this line is never closed (a " is missing)'),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,9999-12-31,10,EUR\n",
     'f.csv:2: due_date: "9999-12-31" is not a date arrears takes (from 1900-01-01 to '
     "2999-12-31)"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "CN-7,C1,2025-01-01,2025-01-31,-100.00,EUR\n",
     'f.csv:2: amount: "-100.00" is negative: a credit note or unapplied payment is not an '
     "invoice; leave it out of the file, or net it into the open_amount of the invoices it "
     "pays"),
    ("invoices", "number,customer,invoice_date,due_date,amount,currency\n"
                 "INV-7,C1,2025-01-01,2025-01-31," + "9" * 5000 + ",EUR\n",
     'is too large'),
    ("invoices", "number;customer;invoice_date;due_date;amount;currency\n"
                 "INV-7;C1;2025-01-01;2025-01-31;10,00;EUR\n",
     'f.csv:1: the columns are separated by ";": arrears reads comma-separated files'),
    ("invoices", "sep=;\nnumber;customer;invoice_date;due_date;amount;currency\n",
     'f.csv:1: the columns are separated by ";"'),
    ("invoices", "number\tcustomer\tinvoice_date\tdue_date\tamount\tcurrency\n",
     "f.csv:1: the columns are separated by a tab"),
    ("invoices", "number,customer,Invoice Date,due_date,amount,currency\n",
     'f.csv:1: unknown column "Invoice Date" (did you mean invoice_date? invoices columns:'),
    ("customers", "account,name,currency,\nC9,X,EUR,oops\n",
     "f.csv:2: column 4 has a value, and no name in the header"),
])
def test_a_bad_file_is_refused_whole(rejected, book, tmp_path, monkeypatch, kind, content,
                                     expected):
    monkeypatch.chdir(tmp_path)
    stderr = rejected(kind, "f.csv", content)
    assert expected in stderr


def test_an_over_payment_is_refused_after_earlier_payments(run, rejected, csv_file, book):
    run("payments", csv_file("p.csv", "invoice,date,amount\nINV-1,2025-02-01,90\n"))
    stderr = rejected("payments", "q.csv", "invoice,date,amount\nINV-1,2025-02-01,90\n"
                                           "INV-1,2025-02-05,10.01\n")
    assert "q.csv:3: amount: payments to invoice INV-1 (10.01 in this file) exceed its " \
           "open amount 10.00" in stderr


def test_an_invoice_amount_below_its_payments_is_refused(run, rejected, csv_file, book):
    run("payments", csv_file("p.csv", "invoice,date,amount\nINV-1,2025-02-01,90\n"))
    stderr = rejected("invoices", "i.csv", "number,customer,invoice_date,due_date,amount,"
                                           "currency\nINV-1,C1,2025-01-01,2025-01-31,80,EUR\n")
    assert "i.csv:2: amount: 80.00 is less than the 90.00 already paid on invoice INV-1" \
        in stderr


def test_an_invoice_with_payments_keeps_its_currency(run, rejected, csv_file, book):
    run("payments", csv_file("p.csv", "invoice,date,amount\nINV-1,2025-02-01,10\n"))
    stderr = rejected("invoices", "i.csv", "number,customer,invoice_date,due_date,amount,"
                                           "currency\nINV-1,C1,2025-01-01,2025-01-31,100,USD\n")
    assert "i.csv:2: currency: invoice INV-1 has payments in EUR; its currency cannot " \
           "change to USD" in stderr


def test_a_promise_can_be_moved_without_repeating_the_status(run, rejected, csv_file, engine,
                                                             book):
    header = "number,customer,invoice_date,due_date,amount,currency,status,promised_date\n"
    row = "INV-1,C1,2025-01-01,2025-01-31,100,EUR,"
    run("invoices", csv_file("a.csv", header + row + "promised,2025-02-10\n"))
    run("invoices", csv_file("b.csv", header + row + ",2025-02-20\n"))
    invoice = one(engine, schema.invoice, number="INV-1")
    assert (invoice["status"], invoice["promised_date"].isoformat()) == ("promised",
                                                                         "2025-02-20")
    stderr = rejected("invoices", "c.csv", header + "INV-2,C2,2025-01-05,2025-02-04,2.675,BHD,,"
                                                    "2025-02-20\n")
    assert "c.csv:2: promised_date: only status promised takes a date, the invoice's " \
           "status is none" in stderr


def test_a_good_row_and_a_bad_row_change_nothing(rejected, engine, book):
    rejected("customers", "c.csv", "account,name,currency\nC8,Fine,EUR\nC9,Bad,XYZ\n")
    assert {c["account"] for c in rows(engine, schema.customer)} == {"C1", "C2", "C3"}


def test_many_problems_are_cut_at_fifty(rejected, engine, book):
    content = "account,name,currency\n" + "".join(f"C{n},X,EURO\n" for n in range(120))
    stderr = rejected("customers", "c.csv", content)
    lines = stderr.splitlines()
    assert len(lines) == 51
    assert "c.csv:2: currency:" in lines[0]
    assert "c.csv:51: currency:" in lines[49]
    assert lines[50] == "… and 70 more problems"


def test_line_numbers_count_multi_line_cells(rejected, book):
    stderr = rejected("customers", "c.csv",
                      'account,name,currency\nC8,"Two\nlines",EUR\nC9,X,EURO\n')
    assert 'c.csv:4: currency: "EURO"' in stderr


def test_an_empty_file_is_refused(rejected):
    assert "f.csv:1: the file is empty" in rejected("customers", "f.csv", b"")
    assert "g.csv:1: the file is empty" in rejected("customers", "g.csv", b"\xef\xbb\xbf\r\n")


def test_a_missing_file_is_refused(run, tmp_path):
    path = tmp_path / "nope.csv"
    assert f"{path}: no such file" in run("customers", path, 2).stderr


@pytest.mark.parametrize("content, said", [
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(128, 256)), "f.csv:1: is a workbook (.xlsx), "
     'not a CSV file: in Excel, Save As "CSV UTF-8 (Comma delimited)"'),
    ("account,name,currency\nC9,Müller,EUR\n".encode("utf-16"),
     "f.csv:1: is UTF-16 text (Excel's \"Unicode Text\"): save the file as CSV UTF-8"),
])
def test_a_workbook_or_utf16_file_is_named_for_what_it_is(rejected, content, said):
    assert said in rejected("customers", "f.csv", content)


def test_a_file_that_is_not_utf8_is_refused(rejected):
    content = "account,name,currency\nC8,Fine,EUR\nC9,M\xfcller,EUR\n".encode("latin-1")
    stderr = rejected("customers", "c.csv", content)
    assert "c.csv:3: is not UTF-8 text" in stderr


def test_fast_and_core_writes_store_the_same(tmp_path, arrears_pm, monkeypatch,
                                             arrears_db_url, arrears_new_db_url):
    """The fast paths (SQLite: pre-converted rows; PostgreSQL: COPY) and Core's own
    executemany agree."""
    files = {
        "customers": "account,name,currency,credit_limit\nC1,Acme,EUR,10\nC2,Gulf,BHD,\n",
        "contacts": "customer,email,purpose,name\nC1,a@acme.example,billing,Ann\n",
        "invoices": "number,customer,invoice_date,due_date,amount,currency,status,"
                    "promised_date\nINV-1,C1,2025-01-01,2025-01-31,100,EUR,promised,2025-02-10\n"
                    "INV-2,C2,2025-01-01,2025-01-31,2.675,BHD,,\n",
        "payments": "invoice,date,amount,reference\nINV-1,2025-02-01,40,R1\n",
        "rates": "currency,date,rate\nBHD,2025-01-01,2.4512\n",
        "invoices2": "number,customer,invoice_date,due_date,amount,currency,status\n"
                     "INV-1,C1,2025-01-01,2025-01-31,120,EUR,disputed\n",
    }
    snapshots = []
    for fast in (True, False):
        monkeypatch.setattr(imports, "FAST_WRITES", fast)
        url = arrears_db_url if fast else arrears_new_db_url()
        cli = Cli(url, arrears_pm)
        for name, content in files.items():
            path = tmp_path / f"{name}.csv"
            path.write_text(content, encoding="utf-8")
            cli("import", name.rstrip("2"), str(path)).assert_exit(0)
        engine = create_engine(url)
        snapshots.append(snapshot(engine))
        engine.dispose()
    assert snapshots[0] == snapshots[1]
    invoice = next(row for row in snapshots[0]["invoice"] if row["number"] == "INV-1")
    assert (invoice["amount_minor"], invoice["open_minor"], invoice["status"]) == (
        12000, 8000, "disputed")
    assert invoice["promised_date"] is None


def test_currencies_have_iso_4217_decimals_not_cldr_display_digits(run, csv_file, engine):
    """CLDR shows the Serbian dinar without decimals; ISO 4217 and ledgers give it 2."""
    run("customers", csv_file("c.csv", "account,name,currency\nR1,Beograd doo,RSD\n"))
    run("invoices", csv_file("i.csv", "number,customer,invoice_date,due_date,amount,currency\n"
                                      "R-1,R1,2025-01-01,2025-01-31,1234.56,RSD\n"
                                      "Q-1,R1,2025-01-01,2025-01-31,1500.250,IQD\n"))
    assert [(i["number"], i["amount_minor"]) for i in rows(engine, schema.invoice)] == [
        ("R-1", 123456), ("Q-1", 1500250)]
    assert (money.decimals("RSD"), money.decimals("IQD"), money.decimals("JPY")) == (2, 3, 0)
