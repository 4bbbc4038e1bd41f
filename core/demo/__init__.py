"""``arrears init --demo``: a realistic sample setup and book, dated around today.

The setup is ``setup.toml`` beside this file (three hierarchies on pools of
rank 1, 2 and 3, English and Swedish templates, two letter sequences with fees).
The book is generated: about 300 customers in USD and SEK, their billing
contacts, about 3000 invoices due from two months ago to three weeks ahead
(some paid, some partly paid, some disputed, some promised), the payments, and
a SEK rate for every day of the last 120 days.

Generation is deterministic (fixed seeds) and *relative* to the demo date, so
``arrears run`` on the day the demo was loaded has real work to do.

Everything goes through the same validating code as the commands: the setup
through :mod:`~arrears.core.setupfile`, the book as CSV files through
:func:`~arrears.core.imports.import_file`; all in one transaction, so a demo
that fails to load changes nothing.

Loading twice doubles nothing: imports upsert by key, payments have a natural
key, an unchanged setup is not stored again, and the demo date of the first
load is kept in the database (``meta`` key ``demo_date``) so a later reload
regenerates exactly the same book instead of shifted copies of it.
"""

from __future__ import annotations

import csv
import math
import random
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import Connection, func, select

from arrears.core import clock, imports, schema, setupfile
from arrears.core.db import Database
from arrears.core.domain import Setup
from arrears.core.errors import BadInput
from arrears.core.plugins import Registry

SETUP = Path(__file__).with_name("setup.toml")
META_KEY = "demo_date"
SEED = 20250117

CUSTOMERS = 300
KEY_EVERY = 12            # every 12th customer is a key account: 25 of them
SWEDISH_SHARE = 0.35      # customers in Sweden, invoiced in SEK
RATE_DAYS = 120           # SEK rates for today and the 120 days before
TERMS_DAYS = 30           # invoice date = due date - 30 days
DUE_FROM, DUE_TO = -60, 20          # open invoices: due dates relative to the demo date
HISTORY_FROM, HISTORY_TO = -120, -61  # older invoices, paid
SEK_PER_USD = 10.5

COLUMNS = {
    "customers": ("account", "name", "currency", "customer_group", "country", "language",
                  "sales_group", "collections_agent", "letter_sequence", "credit_limit"),
    "contacts": ("customer", "email", "purpose", "name", "phone"),
    "invoices": ("number", "customer", "invoice_date", "due_date", "amount", "currency",
                 "status", "promised_date"),
    "payments": ("invoice", "date", "amount"),
    "rates": ("currency", "date", "rate"),
}
# Customers before the rows that name them; rates first, as a book would have them.
ORDER = ("rates", "customers", "contacts", "invoices", "payments")

# --- word lists ----------------------------------------------------------------------

EN_FIRST = ("Northwind", "Blue Ridge", "Summit", "Redwood", "Harbor", "Lakeside", "Ironwood",
            "Silver Creek", "Pioneer", "Granite", "Evergreen", "Copper Hill", "Maple",
            "Riverside", "Eagle", "Atlas", "Beacon", "Cascade", "Frontier", "Keystone",
            "Liberty", "Meridian", "Oakmont", "Prairie", "Sterling", "Tidewater", "Westfield",
            "Cobalt", "Crescent", "Highland", "Juniper", "Sequoia", "Falcon", "Bridgeport",
            "Clearwater", "Stonebridge", "Bayview", "Magnolia", "Cedar Point", "Horizon",
            "Thornbury", "Ashford", "Kingsley", "Whitmore", "Brampton", "Fairhaven")
EN_TRADE = ("Logistics", "Foods", "Hardware", "Outfitters", "Supply", "Marine", "Builders",
            "Distributors", "Engineering", "Textiles", "Printing", "Electric",
            "Medical Supply", "Packaging", "Farms", "Motors", "Optics", "Furniture", "Labs",
            "Timber", "Sports", "Provisions", "Trading", "Tools")
EN_LEGAL = {"US": ("Inc.", "LLC", "Co.", "Corp."), "CA": ("Inc.", "Ltd."),
            "GB": ("Ltd", "plc"), "IE": ("Ltd",), "DE": ("GmbH", "AG"), "NL": ("B.V.",)}
SV_FIRST = ("Norrlands", "Fjällbackens", "Björkviks", "Skärgårdens", "Vänerns", "Ekdalens",
            "Hälsinge", "Dalarnas", "Gotlands", "Mälardalens", "Östgöta", "Västkustens",
            "Sjöviks", "Lövsta", "Granviks", "Strömsunds", "Tallbacka", "Ängsö",
            "Bergslagens", "Kustens", "Åre", "Roslagens", "Siljans", "Höglandets")
SV_TRADE = ("Trä", "Bygg", "Logistik", "Livs", "Verkstad", "El", "Transport", "Fisk",
            "Mejeri", "Snickeri", "Plåt", "Måleri", "Rör", "Kontorsvaror", "Maskin", "Textil",
            "Tryckeri", "Frukt", "Friluft", "Sport")
SV_SURNAMES = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
               "Olsson", "Persson", "Svensson", "Gustafsson", "Lindberg", "Lindqvist",
               "Holmberg", "Bergström", "Sandberg", "Ek", "Forsberg", "Wallin", "Nyström",
               "Lundgren")
SV_GIVEN = ("Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Emma", "Ingrid", "Elin", "Sofia",
            "Lars", "Erik", "Anders", "Johan", "Per", "Karl", "Magnus", "Nils", "Oskar",
            "Mikael")
EN_SURNAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Garcia",
               "Wilson", "Taylor", "Clark", "Lewis", "Walker", "Hall", "Young", "King",
               "Wright", "Scott", "Green", "Baker", "Murphy", "Kelly", "Schmidt", "de Vries")
EN_GIVEN = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
            "David", "Susan", "Sarah", "Daniel", "Emily", "Thomas", "Laura", "Kevin", "Rachel",
            "Brian", "Megan", "Priya", "Omar", "Chloe", "Liam", "Grace")
EN_MAILBOXES = ("ap", "accounts.payable", "invoices", "billing", "finance")
SV_MAILBOXES = ("ekonomi", "faktura", "leverantorsreskontra", "ekonomiavdelningen")
COUNTRIES = (("US", 60), ("GB", 12), ("CA", 10), ("DE", 8), ("NL", 5), ("IE", 5))
GROUPS = (("RETAIL", 50), ("WHOLESALE", 35), ("PUBLIC", 15))


# --- the sample ----------------------------------------------------------------------


@attrs.frozen
class Sample:
    """The generated book: rows per CSV kind, as the CSV files have them."""

    rows: dict[str, list[dict[str, str]]]

    def count(self, kind: str) -> int:
        return len(self.rows[kind])


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _slug(name: str) -> str:
    """An ASCII host label from a company name: "Åre Trä AB" -> "are-tra"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    legal = {"ab", "inc", "llc", "co", "corp", "ltd", "plc", "gmbh", "ag", "b", "v"}
    return "-".join(w for w in words if w not in legal)


def _customers(rng: random.Random) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    customers: list[dict[str, str]] = []
    contacts: list[dict[str, str]] = []
    names: set[str] = set()
    for index in range(1, CUSTOMERS + 1):
        account = f"C{index:04d}"
        swedish = rng.random() < SWEDISH_SHARE
        key = index % KEY_EVERY == 0
        country = "SE" if swedish else _pick(rng, COUNTRIES)
        while True:
            if swedish and rng.random() < 0.2:
                name = f"{rng.choice(SV_SURNAMES)} & Söner AB"
            elif swedish:
                name = f"{rng.choice(SV_FIRST)} {rng.choice(SV_TRADE)} AB"
            else:
                name = (f"{rng.choice(EN_FIRST)} {rng.choice(EN_TRADE)} "
                        f"{rng.choice(EN_LEGAL[country])}")
            if name not in names:
                names.add(name)
                break
        currency = "SEK" if swedish else "USD"
        if swedish:
            sales_group, agent = "NORDIC", "ANNA"
        else:
            sales_group = "EUROPE" if country in ("GB", "IE", "DE", "NL") else rng.choice(
                ("EAST", "WEST"))
            agent = rng.choice(("BEN", "MARIA"))
        limit = 250_000 if key else rng.choice((10_000, 25_000, 50_000, 100_000))
        if swedish:
            limit *= 10
        customers.append({
            "account": account, "name": name, "currency": currency,
            "customer_group": "KEY" if key else _pick(rng, GROUPS),
            "country": country,
            "language": "sv" if swedish and rng.random() < 0.9 else "en",
            "sales_group": sales_group,
            "collections_agent": "DAVID" if key else agent,
            "letter_sequence": "SE" if swedish else "",
            "credit_limit": f"{limit}.00",
        })
        contacts.extend(_contacts(rng, account, name, swedish, country))
    return customers, contacts


def _contacts(rng: random.Random, account: str, name: str, swedish: bool,
              country: str) -> list[dict[str, str]]:
    domain = f"{_slug(name)}.example.com"
    given, surnames = (SV_GIVEN, SV_SURNAMES) if swedish else (EN_GIVEN, EN_SURNAMES)
    rows = []
    for position in range(1 if rng.random() < 0.4 else 2):
        person = f"{rng.choice(given)} {rng.choice(surnames)}"
        if position == 0:
            local = rng.choice(SV_MAILBOXES if swedish else EN_MAILBOXES)
        else:
            local = _slug(person).replace("-", ".")
        rows.append({"customer": account, "email": f"{local}@{domain}", "purpose": "billing",
                     "name": person if position else f"Accounts payable, {person}",
                     "phone": _phone(rng, country)})
    return rows


def _phone(rng: random.Random, country: str) -> str:
    """A number from the ranges set aside for fiction, where the country has one."""
    if country == "SE":
        return f"+46 70 174 06 {rng.randint(5, 99):02d}"
    if country == "GB":
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    if country in ("US", "CA"):
        area = rng.choice(("212", "617", "206", "312") if country == "US" else ("416", "604"))
        return f"+1 {area} 555 01{rng.randint(0, 99):02d}"
    return ""


def _invoices(rng: random.Random, customers: list[dict[str, str]],
              today: date) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    drafts: list[dict[str, Any]] = []
    for customer in customers:
        currency = customer["currency"]
        key = customer["customer_group"] == "KEY"
        small = not key and rng.random() < 0.04          # a customer that buys little
        scale = (25.0 if small else 1800.0 * math.exp(rng.gauss(0, 0.6))) * (4 if key else 1)
        for _ in range(rng.randint(18, 30) if key else rng.randint(5, 13)):
            history = rng.random() < 0.18
            offset = rng.randint(HISTORY_FROM, HISTORY_TO) if history else rng.randint(
                DUE_FROM, DUE_TO)
            usd = scale * math.exp(rng.gauss(0, 0.7))
            if not small and rng.random() < 0.04:         # a small charge: freight, a part
                usd = rng.uniform(3, 9.5)
            if currency == "SEK":
                minor = max(1, round(usd * SEK_PER_USD)) * 100   # whole kronor
            else:
                minor = max(100, round(usd * 100))
            drafts.append({"customer": customer["account"], "currency": currency,
                           "due": today + timedelta(days=offset), "minor": minor,
                           "history": history, "roll": rng.random(),
                           "habit": _habit(customer["account"])})
    drafts.sort(key=lambda d: (d["due"], d["customer"], d["roll"]))

    rows: list[dict[str, str]] = []
    payments: list[dict[str, str]] = []
    for number, draft in enumerate(drafts, 100001):
        invoice = f"INV-{number}"
        due: date = draft["due"]
        currency: str = draft["currency"]
        minor: int = draft["minor"]
        paid = _payments(rng, draft, today)
        payments.extend({"invoice": invoice, "date": on.isoformat(),
                         "amount": imports.amount_text(part, currency)} for on, part in paid)
        status, promised = "", ""     # empty: a reload keeps what happened since
        if minor > sum(part for _, part in paid):
            roll = rng.random()
            if roll < 0.05:
                status = "disputed"
            elif roll < 0.10:
                # Some promised dates have passed: the next run breaks those promises.
                status = "promised"
                promised = (today + timedelta(days=rng.randint(-6, 10))).isoformat()
            elif roll < 0.115 and due < today:
                status = "resolved"
        rows.append({"number": invoice, "customer": draft["customer"],
                     "invoice_date": (due - timedelta(days=TERMS_DAYS)).isoformat(),
                     "due_date": due.isoformat(), "amount": imports.amount_text(minor, currency),
                     "currency": currency, "status": status, "promised_date": promised})
    return rows, payments


# How each kind of customer turns a random draw of days late into its own: payment
# prediction has something to learn (docs/prediction.md).
HABITS: dict[str, Callable[[int], int]] = {
    "punctual": lambda days: days // 5 - 3,
    "late": lambda days: 5 + days // 2,
    "very late": lambda days: 25 + days,
}


def _habit(account: str) -> str:
    """The customer's payment habit: its own random draw, so the rest of the book is the
    same whatever the habits."""
    return random.Random(f"habit:{account}").choice(("punctual", "punctual", "late",
                                                     "very late"))


def _payments(rng: random.Random, draft: dict[str, Any], today: date) -> list[tuple[date, int]]:
    """The payments of one invoice: (date, minor units), none later than yesterday."""
    due: date = draft["due"]
    minor: int = draft["minor"]
    days = (due - today).days
    yesterday = today - timedelta(days=1)
    habit = HABITS[draft["habit"]]
    if draft["history"]:
        paid_on = due + timedelta(days=habit(rng.randint(-5, 20)))
        if rng.random() < 0.15 and minor >= 200:          # paid in two instalments
            first = round(minor * rng.uniform(0.3, 0.7))
            return [(paid_on - timedelta(days=rng.randint(7, 20)), first),
                    (paid_on, minor - first)]
        return [(paid_on, minor)]
    roll = rng.random()
    if days < 0:
        if roll < 0.3 + 0.45 * (-days / -DUE_FROM):      # the older, the likelier paid
            late = min(habit(rng.randint(-10, min(25, -days - 1))), -days - 1)
            return [(due + timedelta(days=late), minor)]
        if roll > 0.9 and minor >= 200:
            start = due - timedelta(days=TERMS_DAYS - 1)
            span = max(0, (yesterday - start).days)
            return [(start + timedelta(days=rng.randint(0, span)),
                     round(minor * rng.uniform(0.2, 0.8)))]
        return []
    if roll < 0.05:                                        # paid early
        return [(today - timedelta(days=rng.randint(1, 5)), minor)]
    if roll > 0.97 and minor >= 200:                       # a deposit
        return [(today - timedelta(days=rng.randint(1, 5)), round(minor * 0.3))]
    return []


def _rates(rng: random.Random, today: date) -> list[dict[str, str]]:
    """USD per SEK, a gentle random walk around 0.095, six decimals, one per day."""
    rows = []
    rate = 0.0950
    for back in range(RATE_DAYS, -1, -1):
        rate = min(0.1020, max(0.0880, rate * (1 + rng.gauss(0, 0.004))))
        rows.append({"currency": "SEK", "date": (today - timedelta(days=back)).isoformat(),
                     "rate": f"{rate:.6f}"})
    return rows


def sample(today: date) -> Sample:
    """The demo book dated around *today*: the same book, shifted, whatever the date."""
    customers, contacts = _customers(random.Random(SEED))
    invoice_rows, payments = _invoices(random.Random(SEED + 1), customers, today)
    rows = {"customers": customers, "contacts": contacts, "invoices": invoice_rows,
            "payments": payments, "rates": _rates(random.Random(SEED + 2), today)}
    return Sample(rows)


# --- loading -------------------------------------------------------------------------


def _write(folder: Path, kind: str, rows: list[dict[str, str]]) -> Path:
    path = folder / f"{kind}.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS[kind], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _anchor(connection: Connection, today: date) -> tuple[date, bool]:
    """The demo date: the one of an earlier demo load in this database, else *today*."""
    meta = schema.meta
    stored = connection.execute(select(meta.c.value).where(meta.c.key == META_KEY)).scalar()
    if stored is not None:
        return date.fromisoformat(stored), True
    connection.execute(meta.insert().values(key=META_KEY, value=today.isoformat()))
    return today, False


def refuse_a_book(db: Database) -> None:
    """BadInput when *db* holds a book or a setup that a demo did not load: the demo's
    setup would replace its setup and the demo's customers and invoices be mixed into
    its own (a demo loaded before is simply loaded again)."""
    path = db.sqlite_path()
    if path is not None and not path.exists():
        return
    with db.read() as connection:
        if db.current_revision(connection) is None:
            return  # no arrears schema: nothing of a book (init refuses foreign tables)
        meta = schema.meta
        if connection.execute(select(meta.c.value).where(meta.c.key == META_KEY)).first():
            return
        customers = connection.execute(select(func.count()).select_from(schema.customer))\
            .scalar_one()
        setups = connection.execute(select(func.count()).select_from(schema.setup)).scalar_one()
    if customers or setups:
        held = [f"{customers} customer{'' if customers == 1 else 's'}" if customers else "",
                "a setup" if setups else ""]
        raise BadInput(f"init --demo: {db.display_url} already holds "
                       f"{' and '.join(h for h in held if h)} of its own, which the demo "
                       "would be mixed into: give the demo a database of its own "
                       "(--db sqlite:///demo.db)")


def _store_setup(connection: Connection, setup: Setup, registry: Registry) -> bool:
    """Store the demo setup unless it is already the one in force; True if stored."""
    current = setupfile.stored(connection, registry)
    wanted = setupfile.to_document(setup, registry)
    if current is not None and setupfile.to_document(current, registry) == wanted:
        return False
    setupfile.save(connection, setup, registry, str(SETUP))
    return True


def load(db: Database, registry: Registry, today: date | None = None) -> str:
    """Load the demo setup and book into *db* in one transaction; a one-line summary.

    *today* (default: today in the demo setup's timezone) is the date the book
    is built around, unless this database already holds a demo: then that
    demo's date is kept and the collections statuses invoices have now are
    left alone (a run may have broken a promise since), so loading again
    doubles and undoes nothing.
    """
    setup = setupfile.read(SETUP, registry)
    requested = today or clock.today(setup.parameters.timezone)
    with db.begin() as connection:
        anchor, again = _anchor(connection, requested)
        book = sample(anchor)
        if again:
            for row in book.rows["invoices"]:
                row.update(status="", promised_date="")
        stored = _store_setup(connection, setup, registry)
        changed = 0
        with tempfile.TemporaryDirectory(prefix="arrears-demo-") as folder:
            for kind in ORDER:
                summary = imports.import_file(connection, kind,
                                              _write(Path(folder), kind, book.rows[kind]))
                changed += summary.inserted + summary.updated
    return _summary(setup, book, anchor, stored, again, changed, requested)


def _summary(setup: Setup, book: Sample, anchor: date, stored: bool, again: bool,
             changed: int, requested: date) -> str:
    paid: dict[str, int] = {}
    for payment in book.rows["payments"]:
        paid[payment["invoice"]] = paid.get(payment["invoice"], 0) + _minor(payment["amount"])
    open_due = [date.fromisoformat(row["due_date"]) for row in book.rows["invoices"]
                if _minor(row["amount"]) > paid.get(row["number"], 0)]
    soon = sum(1 for due in open_due if 0 <= (due - anchor).days <= 7)
    text = (f"{'loaded' if stored else 'kept'} setup {SETUP} ({len(setup.hierarchies)} "
            f"hierarchies, {len(setup.pools)} pools); {book.count('customers')} customers, "
            f"{book.count('contacts')} contacts, {book.count('invoices')} invoices "
            f"({len(open_due)} open, {soon} due in the next 7 days), "
            f"{book.count('payments')} payments, {book.count('rates')} rates; "
            f"dated around {anchor}")
    if again:
        text += (" (already loaded: " + ("nothing changed" if changed == 0 and not stored
                                         else f"{changed} rows brought back to the demo's")
                 + (f"; a new database gets a demo dated {requested}"
                    if requested != anchor else "") + ")")
    return text


def _minor(amount: str) -> int:
    """Minor units of an amount the sample wrote with two decimals."""
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int(cents or 0)


__all__ = ["SETUP", "Sample", "load", "refuse_a_book", "sample"]
