"""Import throughput: generate customers and invoices CSVs, import them with the real CLI.

    python bench/import_bench.py                          # 100k customers, 1M invoices
    python bench/import_bench.py --invoices 100000 --db /tmp/bench.db
    python bench/import_bench.py --reimport               # also time a second, no-op pass
    python bench/import_bench.py --url postgresql://USER@HOST/EMPTYDB

The files are deterministic (``--seed``) and written to a temporary folder
(``--keep`` keeps it and prints where). Each step runs ``arrears`` as a
subprocess, so the times include start-up, reading, validation and the commit:
what a user waits for. The results are in docs/csv.md ("Import throughput").
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

CURRENCIES = (("EUR", 70), ("USD", 20), ("GBP", 6), ("JPY", 3), ("BHD", 1))
GROUPS = ("RETAIL", "WHOLESALE", "PUBLIC", "INTERCO")
COUNTRIES = ("DE", "FR", "US", "GB", "JP", "BH", "NL")
STATUSES = ("none",) * 90 + ("disputed",) * 4 + ("resolved",) * 3 + ("broken",) * 3


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", type=Path, default=None,
                       help="SQLite file to create (replaced); default one in the temp folder")
    where.add_argument("--url", default=None,
                       help="any database URL instead, e.g. an empty PostgreSQL database")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--reimport", action="store_true",
                        help="import the invoices a second time (every row unchanged)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    return parser.parse_args(argv)


def write_customers(path: Path, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """customers.csv with *count* rows; returns (account, currency) of each."""
    currencies = [code for code, weight in CURRENCIES for _ in range(weight)]
    accounts = []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["account", "name", "currency", "customer_group", "country",
                      "credit_limit"])
        for index in range(1, count + 1):
            account, currency = f"C{index:07d}", rng.choice(currencies)
            accounts.append((account, currency))
            out.writerow([account, f"Customer {index}, Ltd.", currency, rng.choice(GROUPS),
                          rng.choice(COUNTRIES), amount(rng.randrange(0, 10_000_000), currency)])
    return accounts


def write_invoices(path: Path, count: int, accounts: list[tuple[str, str]],
                   rng: random.Random) -> None:
    """invoices.csv with *count* rows spread over *accounts* (each in its currency)."""
    start = date(2024, 1, 1)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["number", "customer", "invoice_date", "due_date", "amount", "currency",
                      "open_amount", "status"])
        for index in range(1, count + 1):
            account, currency = accounts[rng.randrange(len(accounts))]
            issued = start + timedelta(days=rng.randrange(730))
            total = rng.randrange(100, 5_000_000)
            left = total if rng.random() < 0.8 else rng.randrange(0, total + 1)
            out.writerow([f"INV{index:08d}", account, issued.isoformat(),
                          (issued + timedelta(days=rng.choice((14, 30, 45, 60)))).isoformat(),
                          amount(total, currency), currency, amount(left, currency),
                          rng.choice(STATUSES)])


def amount(minor: int, currency: str) -> str:
    """*minor* units written with the currency's decimals."""
    places = {"JPY": 0, "BHD": 3}.get(currency, 2)
    if not places:
        return str(minor)
    return f"{minor // 10 ** places}.{minor % 10 ** places:0{places}d}"


def arrears(db_url: str, *args: str) -> float:
    """Run ``arrears --db URL ARGS…``; the seconds it took. Stops the bench on failure."""
    command = [sys.executable, "-c", "from arrears.core.cli import main; main()",
               "--db", db_url, *args]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"arrears {' '.join(args)} exited {done.returncode}:\n"
                 f"{done.stdout}{done.stderr[-3000:]}")
    return seconds


def report(label: str, rows: int, seconds: float) -> None:
    print(f"{label:<28} {rows:>10,} rows {seconds:>8.2f} s {rows / seconds:>12,.0f} rows/s",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    options = arguments(argv)
    rng = random.Random(options.seed)
    folder = Path(tempfile.mkdtemp(prefix="arrears-bench-"))
    try:
        db = (options.db or folder / "bench.db").resolve()
        if options.url is None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = options.url or f"sqlite:///{db}"
        began = time.perf_counter()
        accounts = write_customers(folder / "customers.csv", options.customers, rng)
        write_invoices(folder / "invoices.csv", options.invoices, accounts, rng)
        print(f"generated {options.customers:,} customers and {options.invoices:,} invoices "
              f"in {time.perf_counter() - began:.1f} s ({folder}); python "
              f"{sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
        arrears(url, "init")
        report("import customers", options.customers,
               arrears(url, "import", "customers", str(folder / "customers.csv")))
        report("import invoices", options.invoices,
               arrears(url, "import", "invoices", str(folder / "invoices.csv")))
        if options.reimport:
            report("import invoices (again)", options.invoices,
                   arrears(url, "import", "invoices", str(folder / "invoices.csv")))
        if options.url is None:
            print(f"database {db}: {db.stat().st_size / 2**20:,.0f} MiB")
    finally:
        if options.keep:
            print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
