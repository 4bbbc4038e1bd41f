"""Letter export speed: post N collection letters, then time ``arrears letters export``.

    python bench/export_bench.py                      # 1,000 letters as PDF
    python bench/export_bench.py --letters 200 --jobs 1
    python bench/export_bench.py --as html --keep

A fresh SQLite database gets a setup (tests/data/setup.toml's letter sequence,
with a fee), N customers (English and Swedish, with addresses) and 1 to 6
overdue invoices each, all through the real CLI; ``letters create`` posts one
letter per customer. Then ``arrears letters export DIR --as pdf`` runs as a
subprocess, so the time includes start-up, reading, rendering and writing:
what a user waits for. The figure is in docs/letters.md ("Export speed").
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUP = """\
[parameters]
accounting_currency = "USD"
default_letter_sequence = "STD"

[company]
name = "Contoso Ltd"
address = "1 Main Street\\nSpringfield, IL 62701"

[[letter_sequence]]
id = "STD"
  [[letter_sequence.letter]]
  code = "LETTER1"
  days = 1
  fee = "5.00"
"""


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--as", dest="fmt", choices=("pdf", "html"), default="pdf")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes (default: arrears' own, one per CPU)")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--keep", action="store_true", help="keep the folder and print it")
    return parser.parse_args(argv)


def arrears(db: Path, *args: str) -> tuple[float, float]:
    """Run ``arrears`` on *db*; the seconds it took, and the CPU seconds it and its worker
    processes used (the figure that does not depend on what else the machine runs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "arrears.core", "--db", f"sqlite:///{db}", *args],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def write_book(folder: Path, count: int, rng: random.Random) -> None:
    with open(folder / "customers.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["account", "name", "currency", "language", "country", "address"])
        for n in range(1, count + 1):
            swedish = n % 4 == 0
            out.writerow([f"C{n:05d}", f"Customer {n} {'AB' if swedish else 'Inc.'}",
                          "SEK" if swedish else "USD", "sv" if swedish else "en",
                          "SE" if swedish else "US",
                          f"Storgatan {n}\n111 22 Stockholm" if swedish
                          else f"{n} Harbour Road\nSeattle, WA 98101"])
    with open(folder / "invoices.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["number", "customer", "invoice_date", "due_date", "amount", "currency"])
        for n in range(1, count + 1):
            currency = "SEK" if n % 4 == 0 else "USD"
            for i in range(rng.randint(1, 6)):
                day = rng.randint(1, 28)
                out.writerow([f"INV-{n:05d}-{i}", f"C{n:05d}", f"2024-11-{day:02d}",
                              f"2024-12-{day:02d}", f"{rng.randint(50, 50000)}.{i}0",
                              currency])
    (folder / "rates.csv").write_text("currency,date,rate\nSEK,2024-01-01,0.0905\n")
    (folder / "setup.toml").write_text(SETUP)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    folder = Path(tempfile.mkdtemp(prefix="arrears-export-bench-"))
    db = folder / "bench.db"
    try:
        write_book(folder, args.letters, random.Random(args.seed))
        arrears(db, "init")
        arrears(db, "setup", "load", str(folder / "setup.toml"))
        for kind in ("customers", "invoices", "rates"):
            arrears(db, "import", kind, str(folder / f"{kind}.csv"))
        arrears(db, "letters", "create", "--as-of", "2025-01-20")
        out = folder / "letters"
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        seconds, cpu = arrears(db, "letters", "export", str(out), "--as", args.fmt, *jobs)
        files = len(list(out.glob(f"*.{args.fmt}")))
        if files != args.letters:
            sys.exit(f"expected {args.letters} files, found {files}")
        print(f"{files} letters exported as {args.fmt} in {seconds:.1f} s "
              f"({1000 * seconds / files:.0f} ms per letter, {os.cpu_count()} CPUs); "
              f"CPU time {cpu:.1f} s ({1000 * cpu / files:.0f} ms per letter)")
        if args.keep:
            print(f"kept: {folder}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
