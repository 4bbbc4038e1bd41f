"""Collection letters (SEMANTICS.md §5, §7): the sequence, grace periods, what a letter
lists, the ``letter`` action and the standalone letter run (``arrears letters create``)."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import tomli_w
from sqlalchemy import create_engine, text

from arrears.core.book import Batch
from arrears.core.context import Rates
from arrears.core.domain import Action, Customer, Invoice, LetterSequence, PostedLetter
from arrears.core.errors import MissingRate
from arrears.core.testing import RecordingContext
from arrears.plugins import letters

DUE = date(2025, 1, 15)


def jan(day: int) -> date:
    return date(2025, 1, day)


def feb(day: int) -> date:
    return date(2025, 2, day)


def customer(account: str = "C1", currency: str = "USD", **more: Any) -> Customer:
    return Customer(account, f"Customer {account}", currency, id=1, **more)


def invoice(number: str, due: date, amount: str = "100.00", *, currency: str = "USD",
            status: str = "none", account: str = "C1") -> Invoice:
    return Invoice(number, account, due - timedelta(days=30), due, Decimal(amount),
                   Decimal(amount), currency, status)


def context(setup: Any, as_of: date, invoices: list[Invoice], *, who: Customer | None = None,
            letters: list[PostedLetter] = (), simulate: bool = False,
            rates: dict[str, str] | None = None) -> RecordingContext:
    who = who or customer()
    ordered = sorted(invoices, key=lambda i: (i.due_date, i.invoice_date, i.number))
    batch = Batch([who], {who.account: ordered}, {}, {}, {}, {who.account: list(letters)},
                  {i.number: n for n, i in enumerate(ordered, 1)})
    rate_table = Rates("USD", dates={c: [jan(1)] for c in rates or {}},
                       rates={c: [Decimal(r)] for c, r in (rates or {}).items()})
    return RecordingContext(as_of=as_of, setup=setup, rates=rate_table, simulate=simulate,
                            batch=batch)


def act(pm: Any, ctx: RecordingContext, leading: Invoice, step: str = "First notice",
        hierarchy: str = "STD", who: Customer | None = None):
    who = who or ctx.batch.customers[0]
    found = ctx.setup.hierarchy(hierarchy)
    chosen = next(s for s in found.steps if s.description == step)
    action = Action(who.account, found.id, chosen.description, chosen.action, leading.number,
                    ctx.as_of, chosen.document)
    return pm.hook.execute_action(action=action, customer=who, invoice=leading, step=chosen,
                                  hierarchy=found, context=ctx)


# --- the sequence and its grace periods ------------------------------------------------------


def test_the_faq_sequence_day_by_day(arrears_pm, setup):
    """Grace days 1, 6, 7; an invoice due January 15; a letter tried every day."""
    inv = invoice("INV-1", DUE)
    posted: list[PostedLetter] = []
    codes = [c.code for c in setup.letter_sequences[0].letters]
    day = jan(10)
    while day <= feb(13):
        outcome = letters.post_next_letter(customer(), inv, context(setup, day, [inv],
                                                                    letters=posted),
                                           hierarchy=None, step=None)
        if outcome.done:
            posted.append(PostedLetter("STD", outcome.document, codes.index(outcome.document),
                                       day, frozenset({"INV-1"})))
        day += timedelta(days=1)
    assert [(p.code, p.date) for p in posted] == [
        ("LETTER1", jan(16)), ("LETTER2", jan(22)), ("LETTER3", jan(29)),
        ("LETTER3", feb(5)), ("LETTER3", feb(12))]


def test_grace_reasons_name_the_code_the_date_and_where_it_counts_from(arrears_pm, setup):
    inv = invoice("INV-1", DUE)
    first = act(arrears_pm, context(setup, jan(15), [inv]), inv)
    assert not first.done
    assert first.reason == ("grace period of LETTER1 ends on 2025-01-16 "
                            "(1 day after the due date of INV-1, 2025-01-15)")
    assert first.details == {"letter": "LETTER1", "sequence": "STD",
                             "grace_from": jan(15), "grace_until": jan(16)}
    letter1 = PostedLetter("STD", "LETTER1", 0, jan(16), frozenset({"INV-1"}))
    second = act(arrears_pm, context(setup, jan(21), [inv], letters=[letter1]), inv,
                 "Second notice")
    assert (second.done, second.document) == (False, "LETTER2")
    assert second.reason == ("grace period of LETTER2 ends on 2025-01-22 "
                             "(6 days after LETTER1 of 2025-01-16)")
    assert act(arrears_pm, context(setup, jan(22), [inv], letters=[letter1]), inv,
               "Second notice").document == "LETTER2"


def test_the_letter_follows_the_sequence_not_the_step(arrears_pm, setup):
    """The Final notice step on a customer with no letter yet posts LETTER1."""
    inv = invoice("INV-1", DUE)
    outcome = act(arrears_pm, context(setup, jan(29), [inv]), inv, "Final notice")
    assert (outcome.done, outcome.document, outcome.recipient) == (True, "LETTER1", None)
    assert outcome.details["grace_until"] == jan(16)


def test_one_letter_per_day_even_with_zero_grace_days(arrears_pm, setup):
    zero = attrs.evolve(setup.letter_sequences[0], letters=tuple(
        attrs.evolve(c, days=0) for c in setup.letter_sequences[0].letters))
    setup = attrs.evolve(setup, letter_sequences=(zero,))
    inv = invoice("INV-1", DUE)
    today = PostedLetter("STD", "LETTER1", 0, jan(16), frozenset({"INV-1"}))
    outcome = act(arrears_pm, context(setup, jan(16), [inv], letters=[today]), inv)
    assert not outcome.done
    assert outcome.reason == "LETTER1 was already posted on 2025-01-16"


def test_the_previous_letter_counts_through_any_current_overdue_invoice(arrears_pm, setup):
    """INV-1 is disputed now but still overdue: the letter that listed it is the previous."""
    disputed = invoice("INV-1", jan(5), status="disputed")
    new = invoice("INV-2", jan(20))
    letter1 = PostedLetter("STD", "LETTER1", 0, jan(6), frozenset({"INV-1"}))
    outcome = act(arrears_pm, context(setup, jan(21), [disputed, new], letters=[letter1]), new)
    assert (outcome.done, outcome.document) == (True, "LETTER2")
    assert outcome.details["invoices"] == ["INV-2"]  # the disputed one is not listed


def test_the_latest_letter_by_date_then_position_is_the_previous(arrears_pm, setup):
    inv = invoice("INV-1", DUE)
    letters = [PostedLetter("STD", "LETTER1", 0, jan(22), frozenset({"INV-1"})),
               PostedLetter("STD", "LETTER2", 1, jan(22), frozenset({"INV-1"})),
               PostedLetter("STD", "LETTER1", 0, jan(16), frozenset({"INV-1"}))]
    outcome = act(arrears_pm, context(setup, jan(29), [inv], letters=letters), inv)
    assert outcome.document == "LETTER3"


def test_the_customer_s_own_sequence_and_the_default(arrears_pm, setup):
    short = LetterSequence("SHORT", (attrs.evolve(setup.letter_sequences[0].letters[2],
                                                  code="ONLY", days=3),))
    setup = attrs.evolve(setup, letter_sequences=(*setup.letter_sequences, short))
    inv = invoice("INV-1", DUE)
    own = customer(letter_sequence="SHORT")
    assert act(arrears_pm, context(setup, jan(18), [inv], who=own), inv,
               who=own).document == "ONLY"
    unknown = customer(letter_sequence="GONE")
    assert act(arrears_pm, context(setup, jan(18), [inv], who=unknown), inv,
               who=unknown).document == "LETTER1"
    none = attrs.evolve(setup, parameters=attrs.evolve(setup.parameters,
                                                       default_letter_sequence=None))
    outcome = act(arrears_pm, context(none, jan(18), [inv]), inv)
    assert not outcome.done
    assert outcome.reason == ("no letter sequence for C1: it has no letter sequence and "
                              "parameters.default_letter_sequence names none")


# --- what a letter lists -----------------------------------------------------------------------


def test_a_letter_lists_the_eligible_overdue_invoices(arrears_pm, setup):
    # Exclusion rules are the run's (tests/test_run.py); here: status and overdue.
    invoices = [invoice("A", jan(10)), invoice("DISPUTED", jan(10), status="disputed"),
                invoice("PROMISED", jan(11), status="promised"),
                invoice("BROKEN", jan(11), status="broken"),
                invoice("RESOLVED", jan(12), "60.00", status="resolved"),
                invoice("SMALL", jan(12), "49.99"), invoice("EXACT", jan(13), "50.00"),
                invoice("DUE-TODAY", jan(16)), invoice("LATER", jan(30))]
    ctx = context(setup, jan(16), invoices)
    outcome = act(arrears_pm, ctx, invoices[0])
    listed = ["A", "BROKEN", "RESOLVED", "SMALL", "EXACT"]
    assert outcome.details["invoices"] == listed
    assert outcome.details["total"] == Decimal("359.99")
    [letter] = ctx.rows("letter")
    assert letter["code"] == "LETTER1" and letter["position"] == 0
    assert letter["sequence"] == "STD" and letter["date"] == jan(16)
    assert letter["hierarchy"] == "STD" and letter["step"] == "First notice"
    assert letter["total_minor"] == 35999 and letter["fee_minor"] == 0


def test_total_and_fee_are_in_the_customer_s_currency(arrears_pm, setup):
    """A SEK customer with a SEK and a USD invoice: the USD one converts through USD rates."""
    swede = customer(currency="SEK")
    sek = invoice("S-1", jan(10), "1000.00", currency="SEK")
    usd = invoice("U-1", jan(11), "100.00")
    letter1 = PostedLetter("STD", "LETTER1", 0, jan(11), frozenset({"S-1"}))
    ctx = context(setup, jan(17), [sek, usd], who=swede, letters=[letter1],
                  rates={"SEK": "0.0905"})
    outcome = act(arrears_pm, ctx, sek, who=swede)
    assert outcome.document == "LETTER2"
    # 100 USD / 0.0905 = 1104.972… SEK; 1000 + 1104.972… = 2104.97
    assert (outcome.details["currency"], outcome.details["total"]) == ("SEK", Decimal("2104.97"))
    assert outcome.details["fee"] == Decimal("5.00")
    [letter] = ctx.rows("letter")
    assert (letter["currency"], letter["total_minor"], letter["fee_minor"]) == (
        "SEK", 210497, 500)


def test_a_fee_the_customer_s_currency_cannot_charge_is_not_rounded(arrears_pm, setup):
    """LETTER2's fee is 5.00: charged as 5 to a JPY customer, refused as 5.5."""
    yen = customer(currency="JPY")
    overdue = invoice("J-1", jan(10), "10000", currency="JPY")
    letter1 = PostedLetter("STD", "LETTER1", 0, jan(11), frozenset({"J-1"}))
    ctx = context(setup, jan(17), [overdue], who=yen, letters=[letter1], rates={"JPY": "0.0067"})
    assert act(arrears_pm, ctx, overdue, who=yen).details["fee"] == Decimal("5")
    sequence = setup.letter_sequences[0]
    codes = tuple(attrs.evolve(c, fee=Decimal("5.5")) if c.code == "LETTER2" else c
                  for c in sequence.letters)
    odd = attrs.evolve(setup, letter_sequences=(attrs.evolve(sequence, letters=codes),))
    ctx = context(odd, jan(17), [overdue], who=yen, letters=[letter1], rates={"JPY": "0.0067"})
    outcome = act(arrears_pm, ctx, overdue, who=yen)
    assert (outcome.done, outcome.reason) == (
        False, "LETTER2: the fee 5.5 has more decimals than JPY allows (0)")
    assert ctx.rows("letter") == []


def test_a_sequence_s_own_currency_converts_its_fees_to_the_customer_s(arrears_pm, setup):
    """The FAQ's sequence has a currency: a fee of 5.00 USD is 5.00 to a USD customer and
    about 746 JPY to a JPY one (5 / 0.0067 = 746.27, rounded half-up), not 5 yen."""
    sequence = attrs.evolve(setup.letter_sequences[0], currency="USD")
    usd_fees = attrs.evolve(setup, letter_sequences=(sequence,))
    yen = customer(currency="JPY")
    overdue = invoice("J-1", jan(10), "10000", currency="JPY")
    letter1 = PostedLetter("STD", "LETTER1", 0, jan(11), frozenset({"J-1"}))
    ctx = context(usd_fees, jan(17), [overdue], who=yen, letters=[letter1],
                  rates={"JPY": "0.0067"})
    assert act(arrears_pm, ctx, overdue, who=yen).details["fee"] == Decimal("746")
    assert ctx.rows("letter")[0]["fee_minor"] == 746
    dollars = invoice("U-1", jan(10), "100.00")
    ctx = context(usd_fees, jan(17), [dollars],
                  letters=[PostedLetter("STD", "LETTER1", 0, jan(11), frozenset({"U-1"}))])
    assert act(arrears_pm, ctx, dollars).details["fee"] == Decimal("5.00")


def test_a_missing_rate_fails_the_customer(arrears_pm, setup):
    swede = customer(currency="SEK")
    usd = invoice("U-1", jan(11))
    with pytest.raises(MissingRate, match="no exchange rate for SEK"):
        act(arrears_pm, context(setup, jan(17), [usd], who=swede), usd, who=swede)


def test_no_eligible_overdue_invoice_means_no_letter(arrears_pm, setup):
    """Letter 1 with no grace days is due on the leading invoice's due date, which is
    not overdue yet (SEMANTICS.md §7): nothing to list."""
    sequence = setup.letter_sequences[0]
    zero = attrs.evolve(sequence, letters=(attrs.evolve(sequence.letters[0], days=0),
                                           *sequence.letters[1:]))
    due_today = invoice("INV-1", jan(16))
    outcome = act(arrears_pm, context(attrs.evolve(setup, letter_sequences=(zero,)), jan(16),
                                      [due_today]), due_today)
    assert (outcome.done, outcome.reason) == (
        False, "no eligible overdue invoice to list on LETTER1")


def test_simulation_posts_nothing(arrears_pm, setup):
    inv = invoice("INV-1", DUE)
    ctx = context(setup, jan(16), [inv], simulate=True)
    assert act(arrears_pm, ctx, inv).done
    assert ctx.rows("letter") == [] and ctx.rows("activity") == []


def test_activities_for_automations_records_the_letter_as_a_closed_activity(arrears_pm, setup):
    setup = attrs.evolve(setup, parameters=attrs.evolve(setup.parameters,
                                                        activities_for_automations=True))
    inv = invoice("INV-1", DUE)
    ctx = context(setup, jan(16), [inv], who=customer(collections_agent="ANNA"))
    assert act(arrears_pm, ctx, inv).done
    [activity] = ctx.rows("activity")
    assert activity["type"] == "letter" and activity["status"] == "closed"
    assert activity["closed"] == jan(16) and activity["agent"] == "ANNA"
    assert activity["purpose"] == "Collection letter LETTER1 listing 1 invoice, total 100.00 USD"
    assert activity["template"] == "LETTER1" and activity["step"] == "First notice"


# --- end to end ---------------------------------------------------------------------------------


def write(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


@pytest.fixture
def book(arrears_cli, tmp_path: Path, data: Path):
    """The sample setup (pre-dunning removed) and three customers with overdue invoices."""
    document = tomllib.loads((data / "setup.toml").read_text())
    document["email_template"][0]["body"]["en"]["html"] = "<p>{{ invoice.number }}</p>"
    document["hierarchy"][0]["step"] = document["hierarchy"][0]["step"][1:]
    arrears_cli("setup", "load", write(tmp_path / "setup.toml", tomli_w.dumps(document))
                ).assert_success()
    for kind, rows in (
        ("customers", "account,name,currency\nC1,Fabrikam,USD\nC2,Contoso,USD\n"
                      "C3,Litware,USD\nC4,Paid Up,USD\n"),
        ("invoices", "number,customer,invoice_date,due_date,amount,currency,open_amount,status\n"
                     "INV-1,C1,2024-12-16,2025-01-15,1000.00,USD,,\n"
                     "INV-2,C1,2024-12-20,2025-01-20,500.00,USD,,\n"
                     "INV-3,C2,2024-12-16,2025-01-15,300.00,USD,,disputed\n"
                     "INV-4,C3,2024-12-16,2025-01-17,200.00,USD,,\n"
                     "INV-5,C4,2024-12-16,2025-01-10,200.00,USD,0,\n"),
    ):
        arrears_cli("import", kind, write(tmp_path / f"{kind}.csv", rows)).assert_success()
    return arrears_cli


def query(url: str, sql: str) -> list[tuple]:
    with create_engine(url).connect() as connection:
        return [tuple(r) for r in connection.execute(text(sql))]


def create(cli: Any, day: str, code: int = 0) -> dict[str, Any]:
    return cli("letters", "create", "--as-of", day, "--format", "json").assert_exit(code).json()


def test_the_standalone_letter_run(book, arrears_db_url):
    first = create(book, "2025-01-16")
    assert first["status"] == "success"
    assert [(e["customer"], e["code"], e["invoices"], e["total"]) for e in first["letters"]] == [
        ("C1", "LETTER1", ["INV-1"], "1000.00")]
    waiting = {n["customer"]: n["reason"] for n in first["waiting"]}
    assert waiting == {"C2": "no eligible overdue invoice"}  # C3 is not overdue, C4 is paid

    again = create(book, "2025-01-16")
    assert again["letters"] == []
    assert {n["customer"]: n["reason"] for n in again["waiting"]}["C1"] == \
        "LETTER1 was already posted on 2025-01-16"

    later = create(book, "2025-01-22")
    assert [(e["customer"], e["code"], e["invoices"]) for e in later["letters"]] == [
        ("C1", "LETTER2", ["INV-1", "INV-2"]), ("C3", "LETTER1", ["INV-4"])]

    listed = book("letters", "--format", "json").assert_success().json()["letters"]
    assert [(e["customer"], e["code"], e["date"]) for e in listed] == [
        ("C1", "LETTER1", "2025-01-16"), ("C1", "LETTER2", "2025-01-22"),
        ("C3", "LETTER1", "2025-01-22")]
    assert listed[1] == {
        "id": listed[1]["id"], "customer": "C1", "code": "LETTER2", "sequence": "STD",
        "date": "2025-01-22", "currency": "USD",
        "invoices": [
            {"number": "INV-1", "due_date": "2025-01-15", "open_amount": "1000.00",
             "currency": "USD", "invoice_date": "2024-12-16", "days_overdue": 7},
            {"number": "INV-2", "due_date": "2025-01-20", "open_amount": "500.00",
             "currency": "USD", "invoice_date": "2024-12-20", "days_overdue": 2}],
        "total": "1500.00", "fee": "5.00", "hierarchy": None, "step": None,
        "run": later["run"]}

    # Not contacts: no step is recorded as run; history says what happened.
    assert query(arrears_db_url, "SELECT count(*) FROM step_run") == [(0,)]
    assert query(arrears_db_url, "SELECT kind, status FROM run ORDER BY id") == [
        ("letters", "success")] * 3
    entries = book("history", "--customer", "C1", "--format", "json").json()["entries"]
    assert [(e["kind"], e["step"], e["invoice"], e["reason"]) for e in entries] == [
        ("action", None, "INV-1", "letter LETTER2 (standalone letter run)"),
        ("action", None, "INV-1", "letter LETTER1 (standalone letter run)")]


def test_after_the_last_code_the_last_code_repeats(book):
    days = {"2025-01-16": "LETTER1", "2025-01-22": "LETTER2", "2025-01-29": "LETTER3",
            "2025-02-05": "LETTER3", "2025-02-12": "LETTER3"}  # grace days 1, 6, 7, then 7
    for day, code in days.items():
        assert [(e["customer"], e["code"]) for e in create(book, day)["letters"]
                if e["customer"] == "C1"] == [("C1", code)], day
    waiting = {n["customer"]: n["reason"] for n in create(book, "2025-02-18")["waiting"]}
    assert waiting["C1"] == ("grace period of LETTER3 ends on 2025-02-19 "
                             "(7 days after LETTER3 of 2025-02-12)")


def test_a_daily_run_continues_the_sequence_of_the_standalone_run(book):
    create(book, "2025-01-16")
    run = book("run", "--as-of", "2025-01-16", "--format", "json").assert_success().json()
    assert run["actions"] == []
    assert run["skipped"][0]["reason"] == "LETTER1 was already posted on 2025-01-16"
    run = book("run", "--as-of", "2025-01-22", "--format", "json").assert_success().json()
    assert [(a["customer"], a["document"]) for a in run["actions"]] == [
        ("C1", "LETTER2"), ("C3", "LETTER1")]


def test_a_letter_run_waits_for_a_run_or_with_no_wait_refuses(book, arrears_db_url):
    from arrears.core.db import Database

    db = Database(arrears_db_url)
    try:
        with db.run_lock():
            refused = book("letters", "create", "--as-of", "2025-01-16", "--no-wait")
    finally:
        db.dispose()
    assert refused.exit_code == 1 and "another arrears run is in progress" in refused.stderr
    assert query(arrears_db_url, "SELECT count(*) FROM run") == [(0,)]


def test_a_crashed_or_killed_letter_run_is_marked_interrupted(book, arrears_db_url,
                                                              arrears_plugin):
    from arrears.core import hookimpl

    class PowerCut(BaseException):  # not an Exception: a plugin's error fails one customer
        pass

    @hookimpl(tryfirst=True)
    def record_history():
        raise PowerCut("the machine stopped")

    plugin = arrears_plugin(record_history, name="crash")
    with pytest.raises(PowerCut):
        book("letters", "create", "--as-of", "2025-01-16")
    assert query(arrears_db_url, "SELECT kind, status FROM run") == [("letters", "interrupted")]
    book.pm.unregister(plugin)
    # Killed (SIGKILL: no way out): the next letter run marks it.
    with create_engine(arrears_db_url).begin() as connection:
        connection.execute(text("UPDATE run SET status = 'running'"))
    assert [e["customer"] for e in create(book, "2025-01-16")["letters"]] == ["C1"]
    assert query(arrears_db_url, "SELECT kind, status FROM run ORDER BY id") == [
        ("letters", "interrupted"), ("letters", "success")]


def test_a_paid_invoice_s_letters_no_longer_count(book, tmp_path):
    create(book, "2025-01-16")
    book("import", "payments", write(tmp_path / "payments.csv",
                                     "invoice,date,amount\nINV-1,2025-01-17,1000.00\n")
         ).assert_success()
    later = create(book, "2025-01-22")
    assert [(e["customer"], e["code"], e["invoices"]) for e in later["letters"]][0] == (
        "C1", "LETTER1", ["INV-2"])


def test_one_letter_a_day_even_when_the_first_letter_s_invoices_were_paid(book, tmp_path):
    """SEMANTICS §5: one letter per customer. The day's letter listed INV-1 alone, paid
    the same day; then a disputed overdue invoice is resolved: no second letter that
    day; the next day LETTER1 (a paid invoice's letters no longer count)."""
    book("import", "invoices", write(
        tmp_path / "disputed.csv", "number,customer,invoice_date,due_date,amount,currency,"
        "status\nINV-9,C1,2024-12-10,2025-01-12,80.00,USD,disputed\n")).assert_success()
    first = create(book, "2025-01-16")
    assert [(e["customer"], e["invoices"]) for e in first["letters"]] == [("C1", ["INV-1"])]
    book("import", "payments", write(tmp_path / "payments.csv",
                                     "invoice,date,amount\nINV-1,2025-01-16,1000.00\n")
         ).assert_success()
    book("invoice", "status", "INV-9", "resolved").assert_success()
    again = create(book, "2025-01-16")
    assert again["letters"] == []
    assert {n["customer"]: n["reason"] for n in again["waiting"]}["C1"] == \
        "a letter was already posted on 2025-01-16"
    run = book("run", "--as-of", "2025-01-16", "--format", "json").assert_success().json()
    assert [a for a in run["actions"] if a["customer"] == "C1"] == []
    assert {n["customer"]: n["reason"] for n in run["skipped"]}["C1"] == \
        "a letter was already posted on 2025-01-16"
    later = create(book, "2025-01-17")
    assert [(e["customer"], e["code"], e["invoices"]) for e in later["letters"]][0] == (
        "C1", "LETTER1", ["INV-9"])


def test_a_missing_rate_fails_that_customer_only(book, tmp_path):
    book("import", "customers", write(tmp_path / "more.csv",
                                      "account,name,currency\nE1,Euro,EUR\n")).assert_success()
    book("import", "invoices", write(
        tmp_path / "more-invoices.csv", "number,customer,invoice_date,due_date,amount,currency\n"
        "E-1,E1,2024-12-16,2025-01-15,90.00,USD\n")).assert_success()
    result = create(book, "2025-01-16", code=1)
    assert result["status"] == "errors"
    assert result["errors"] == [{"customer": "E1", "step": None, "invoice": None,
                                 "reason": "no exchange rate for EUR on or before 2025-01-16"}]
    assert [e["customer"] for e in result["letters"]] == ["C1"]


def test_listing_one_customer_s_letters(book):
    create(book, "2025-01-22")
    listed = book("letters", "--customer", "C3", "--format", "json").assert_success().json()
    assert [(e["customer"], e["code"]) for e in listed["letters"]] == [("C3", "LETTER1")]
    assert "C1" in book("letters").assert_success().stdout
    assert 'no customer "NOPE"' in book("letters", "--customer", "NOPE").assert_exit(2).stderr


def test_letters_create_text_output(book):
    result = book("letters", "create", "--as-of", "2025-01-16").assert_success()
    assert "1 letters posted" in result.stdout and "LETTER1" in result.stdout
