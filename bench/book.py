"""A realistic, generated book for one run date, written as the CSV files ``arrears import`` reads.

    python bench/book.py OUTDIR --customers 10000 --invoices 100000 --as-of 2025-06-16

Deterministic: the same seed, sizes and date give byte-identical files. What
is in it, chosen so that a run on the date has every kind of work to do with
``bench/setup.toml``:

- customers in eight countries, each with its currency (USD, the accounting
  currency, and EUR, GBP, SEK, JPY, CHF) and language (en, de, fr, sv, ja, nl;
  the templates have en, de and sv, so fr, ja and nl fall back to the default),
  in four customer groups (about 3 % KEY accounts, which follow their own
  strategy; Swedish customers follow theirs), with sales groups, collections
  agents (one in ten has none), public bodies and Swedish customers with
  letter sequences of their own, most with a credit limit;
- billing contacts in import order: most customers one, some two (the first
  one is the recipient), about 4 % none, so their emails cannot be sent;
- invoices spread over customers unevenly (some customers have many), due
  from 90 days before to 30 days after the run date; each customer pays some
  days after the due date (a third on time, a third up to a month late, a
  third later), so that about half the invoices are still open and the
  customers' oldest open invoices are spread over the whole range: pre-dunning
  and every regular step is due for someone (a first run on the book posts the
  first letter of each sequence; later codes follow on later run dates);
  about 5 % disputed (and open), 3 % promised (a third of them with a promise
  already broken on the run date), a few resolved or broken; one in ten open
  invoices partly paid; one in twenty in USD whatever the customer's currency;
  amounts from a few dollars (below the exclusion thresholds) to tens of
  thousands;
- exchange rates for every non-accounting currency for each of the 120 days
  up to and including the run date.
"""

from __future__ import annotations

import argparse
import csv
import random
from bisect import bisect_left
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path

ACCOUNTING = "USD"
DECIMALS = {"JPY": 0}
# country: (weight, currency, language, sales group)
COUNTRIES = {
    "US": (34, "USD", "en", "AMERICAS"),
    "GB": (10, "GBP", "en", "UKI"),
    "DE": (14, "EUR", "de", "DACH"),
    "CH": (3, "CHF", "de", "DACH"),
    "FR": (9, "EUR", "fr", "WESTEU"),
    "NL": (5, "EUR", "nl", "WESTEU"),
    "SE": (20, "SEK", "sv", "NORDIC"),
    "JP": (5, "JPY", "ja", "APAC"),
}
# units of USD per unit, around which the daily rates wander
RATES = {"EUR": "1.0850", "GBP": "1.2700", "SEK": "0.0950", "JPY": "0.0064", "CHF": "1.1200"}
GROUPS = (("RETAIL", 55), ("WHOLESALE", 30), ("PUBLIC", 12), ("KEY", 3))
AGENTS = ("ANNA", "BEN", "CHLOE", "DAVID", "EMMA", "FELIX")
RATE_DAYS = 120
NAMES = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware",
         "Wingtip", "Woodgrove", "Lucerne", "Alpine", "Coho", "Fourth Coffee", "Margie's")
FORMS = {"US": "Inc.", "GB": "Ltd", "DE": "GmbH", "CH": "AG", "FR": "SARL", "NL": "B.V.",
         "SE": "AB", "JP": "K.K."}


def amount(minor: int, currency: str) -> str:
    """*minor* units written with the currency's decimals."""
    places = DECIMALS.get(currency, 2)
    if not places:
        return str(minor)
    return f"{minor // 10 ** places}.{minor % 10 ** places:0{places}d}"


def to_minor(dollars: float, currency: str) -> int:
    """About *dollars* US dollars' worth of *currency*, in its minor units."""
    rate = float(RATES.get(currency, 1))
    return int(dollars / rate * 10 ** DECIMALS.get(currency, 2))


def _weighted(rng: random.Random, table: dict[str, tuple] | tuple, count: int) -> list:
    """*count* keys of *table* drawn by the weight each key has first."""
    items = list(table.items()) if isinstance(table, dict) else [(k, (w,)) for k, w in table]
    return rng.choices([k for k, _ in items], weights=[v[0] for _, v in items], k=count)


def write_customers(path: Path, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """customers.csv; returns (account, currency) of each customer."""
    countries = _weighted(rng, COUNTRIES, count)
    groups = _weighted(rng, GROUPS, count)
    accounts = []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["account", "name", "currency", "customer_group", "country", "language",
                      "sales_group", "collections_agent", "letter_sequence", "credit_limit"])
        for index in range(count):
            country, group = countries[index], groups[index]
            _, currency, language, sales = COUNTRIES[country]
            account = f"C{index + 1:07d}"
            accounts.append((account, currency))
            agent = "" if rng.random() < 0.1 else rng.choice(AGENTS)
            # Public bodies get the softer letter sequence, Swedish customers the Swedish one.
            sequence = "SOFT" if group == "PUBLIC" else ("SE" if country == "SE" else "")
            limit = "" if rng.random() < 0.2 else amount(round(to_minor(
                rng.choice((5_000, 10_000, 25_000, 50_000, 100_000, 250_000)), currency),
                -3 - DECIMALS.get(currency, 2)), currency)
            name = f"{rng.choice(NAMES)} {index + 1} {FORMS[country]}"
            out.writerow([account, name, currency, group, country, language, sales, agent,
                          sequence, limit])
    return accounts


def write_contacts(path: Path, accounts: list[tuple[str, str]], rng: random.Random) -> int:
    """contacts.csv: billing contacts (some customers two, some none); returns the rows."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["customer", "email", "purpose", "name", "phone"])
        for account, _ in accounts:
            draw = rng.random()
            if draw < 0.04:
                continue
            domain = f"{account.lower()}.example.com"
            out.writerow([account, f"ap@{domain}", "billing", "Accounts payable",
                          f"+1555{rng.randrange(10**7):07d}"])
            rows += 1
            if draw > 0.75:
                out.writerow([account, f"controller@{domain}", "billing", "Controller", ""])
                rows += 1
            if draw > 0.9:
                out.writerow([account, f"legal@{domain}", "legal", "Legal department", ""])
                rows += 1
    return rows


def payment_delays(accounts: list[tuple[str, str]], rng: random.Random) -> list[int]:
    """How many days after the due date each customer pays: a third pay on time, a third
    up to a month late, a third later still (some not at all within the book's 90 days)."""
    delays = []
    for _ in accounts:
        draw = rng.random()
        delays.append(rng.randint(0, 3) if draw < 0.35 else
                      rng.randint(4, 30) if draw < 0.65 else rng.randint(31, 150))
    return delays


def write_invoices(path: Path, count: int, accounts: list[tuple[str, str]], as_of: date,
                   rng: random.Random) -> dict[str, int]:
    """invoices.csv with *count* rows; returns counts by kind.

    An invoice is paid (open amount 0) once its customer's payment delay has passed,
    give or take a few days; one in ten of the open ones is partly paid.
    """
    # Uneven: one customer in ten buys five times as often.
    weights = [5 if rng.random() < 0.1 else 1 for _ in accounts]
    cumulative = list(accumulate(weights))
    total_weight = cumulative[-1]
    delays = payment_delays(accounts, rng)
    stats = {"open": 0, "overdue": 0, "disputed": 0, "promised": 0}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["number", "customer", "invoice_date", "due_date", "amount", "currency",
                      "open_amount", "status", "promised_date"])
        for index in range(count):
            which = bisect_left(cumulative, rng.randrange(total_weight) + 1)
            account, currency = accounts[which]
            if currency != ACCOUNTING and rng.random() < 0.05:
                currency = ACCOUNTING
            past_due = rng.randint(-30, 90)
            due = as_of - timedelta(days=past_due)
            issued = due - timedelta(days=rng.choice((14, 30, 30, 45, 60)))
            # From a few dollars' worth (below the thresholds) to tens of thousands.
            minor = max(1, to_minor(10 ** rng.uniform(0.3, 4.7), currency))
            paid = past_due > delays[which] + rng.randint(-3, 3) or rng.random() < 0.02
            status, promised = "none", ""
            draw = rng.random()
            if draw < 0.05:
                status, paid = "disputed", False
            elif draw < 0.08:
                status = "promised"
                promised = (as_of + timedelta(days=rng.randint(-10, 20))).isoformat()
            elif draw < 0.09:
                status = "resolved"
            elif draw < 0.10:
                status = "broken"
            left = 0 if paid else rng.randrange(1, minor + 1) if rng.random() < 0.1 else minor
            if left:
                stats["open"] += 1
                stats["overdue"] += due < as_of
                stats["disputed"] += status == "disputed"
                stats["promised"] += status == "promised"
            out.writerow([f"INV{index + 1:08d}", account, issued.isoformat(), due.isoformat(),
                          amount(minor, currency), currency, amount(left, currency), status,
                          promised])
    return stats


def write_rates(path: Path, as_of: date, rng: random.Random) -> int:
    """rates.csv: a rate for every non-accounting currency on each of the last days."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["currency", "date", "rate"])
        for currency, base in RATES.items():
            rate = Decimal(base)
            for back in range(RATE_DAYS - 1, -1, -1):
                rate = (rate * Decimal(1 + rng.uniform(-0.004, 0.004))).quantize(
                    Decimal("0.000001"))
                out.writerow([currency, (as_of - timedelta(days=back)).isoformat(), rate])
                rows += 1
    return rows


def generate(folder: Path, customers: int, invoices: int, as_of: date,
             seed: int = 20250616) -> dict[str, object]:
    """Write customers, contacts, invoices and rates CSVs into *folder*; what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:{customers}:{invoices}:{as_of.isoformat()}")
    accounts = write_customers(folder / "customers.csv", customers, rng)
    contacts = write_contacts(folder / "contacts.csv", accounts, rng)
    stats = write_invoices(folder / "invoices.csv", invoices, accounts, as_of, rng)
    rates = write_rates(folder / "rates.csv", as_of, rng)
    return {"customers": customers, "contacts": contacts, "invoices": invoices,
            "rates": rates, **stats,
            "files": {kind: folder / f"{kind}.csv"
                      for kind in ("customers", "contacts", "invoices", "rates")}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 6, 16))
    parser.add_argument("--seed", type=int, default=20250616)
    options = parser.parse_args(argv)
    written = generate(options.folder, options.customers, options.invoices, options.as_of,
                       options.seed)
    print(", ".join(f"{key} {value:,}" for key, value in written.items()
                    if isinstance(value, int)))


if __name__ == "__main__":
    main()
