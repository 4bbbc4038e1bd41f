"""``run --workers N`` and ``simulate --workers N``: batches decided in N processes
(docs/performance.md), on the demo book cut into small batches."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_shards import TABLES, query, run

from arrears.core import book, hookimpl
from arrears.core import run as run_module
from arrears.core.testing import Cli, backends


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a run wrote, by table, with ids replaced by what they name (worker processes
    commit their batches in any order, so ids and row order differ)."""
    named = {
        "history": "SELECT h.date, h.hierarchy, c.account, i.number, h.step, h.kind, h.reason "
                   "FROM history h LEFT JOIN customer c ON c.id = h.customer_id "
                   "LEFT JOIN invoice i ON i.id = h.invoice_id",
        "step_run": "SELECT c.account, i.number, s.hierarchy, s.step, s.date FROM step_run s "
                    "JOIN customer c ON c.id = s.customer_id JOIN invoice i ON i.id = s.invoice_id",
        "outbox": "SELECT o.dedupe_key, o.recipient, o.subject, o.body_html FROM outbox o",
        "letter": "SELECT c.account, l.code, l.total_minor FROM letter l "
                  "JOIN customer c ON c.id = l.customer_id",
        "activity": "SELECT c.account, a.step, a.details FROM activity a "
                    "JOIN customer c ON c.id = a.customer_id",
    }
    return {table: sorted(query(url, sql), key=repr) for table, sql in named.items()}


@pytest.fixture
def demo(arrears_cli: Any) -> Any:
    arrears_cli("init", "--demo").assert_success()
    return arrears_cli


@pytest.fixture
def whole(arrears_new_db_url: Any, arrears_pm: Any) -> tuple[Cli, dict[str, Any]]:
    """A second demo book and its run decided in one process, in one batch."""
    cli = Cli(arrears_new_db_url(), arrears_pm)
    cli("init", "--demo").assert_success()
    result = run(cli, "--workers", "1").json()
    assert result["status"] == "success" and len(result["actions"]) > 100
    return cli, result


@pytest.fixture
def pids(arrears_plugin: Any, tmp_path: Path) -> Path:
    """A file each process that decides a customer writes its pid to."""
    seen = tmp_path / "pids"

    @hookimpl
    def exclude_customer(customer):
        with seen.open("a") as file:
            file.write(f"{os.getpid()}\n")

    arrears_plugin(exclude_customer, name="pids")
    return seen


def test_workers_decide_exactly_what_one_process_does(demo, whole, pids, monkeypatch):
    cli, one = whole
    monkeypatch.setattr(book, "BATCH", 20)
    simulated = demo("simulate", "--workers", "3", "--format", "json").assert_success().json()
    assert len(set(pids.read_text().split()) - {str(os.getpid())}) == 3
    pids.unlink()
    result = run(demo, "--workers", "3").json()

    assert result["actions"] == one["actions"]  # the same, in the same order
    assert result["skipped"] == one["skipped"] and result["errors"] == one["errors"] == []
    assert simulated["actions"] == one["actions"]
    assert contents(demo.db_url) == contents(cli.db_url)
    assert {t: query(demo.db_url, f"SELECT count(*) FROM {t}") for t in TABLES} == \
        {t: query(cli.db_url, f"SELECT count(*) FROM {t}") for t in TABLES}
    deciders = set(pids.read_text().split())
    assert len(deciders) == 3 and str(os.getpid()) not in deciders


def test_one_worker_or_one_batch_decides_in_this_process(demo, pids, monkeypatch):
    run(demo, "--workers", "4")  # the demo book is one batch
    assert set(pids.read_text().split()) == {str(os.getpid())}
    pids.unlink()
    monkeypatch.setattr(book, "BATCH", 20)
    demo("simulate", "--workers", "1").assert_success()
    assert set(pids.read_text().split()) == {str(os.getpid())}


def test_a_worker_that_dies_stops_the_run_and_the_rerun_repeats_nothing(
        demo, whole, arrears_plugin, monkeypatch):
    cli, one = whole
    monkeypatch.setattr(book, "BATCH", 20)
    victim = one["actions"][len(one["actions"]) // 2]["customer"]

    @hookimpl(tryfirst=True)
    def execute_action(action):
        if action.customer == victim:
            os._exit(9)  # as if the process were killed mid-batch

    plugin = arrears_plugin(execute_action, name="killer")
    stopped = demo("run", "--workers", "2", "--format", "json").assert_exit(1)
    assert "a worker process stopped before deciding all its customers" in stopped.stderr
    assert "run again to finish" in stopped.stderr
    assert query(demo.db_url, "SELECT status FROM run") == [("interrupted",)]
    # A cron job reading the JSON learns what was done before the stop, and why it stopped.
    interrupted = stopped.json()
    assert interrupted["status"] == "interrupted" and interrupted["run"] is not None
    assert "run again to finish" in interrupted["stopped"]
    done = {(a["customer"], a["step"], a["invoice"]) for a in interrupted["actions"]}
    assert done and victim not in {customer for customer, _, _ in done}

    demo.pm.unregister(plugin)
    again = run(demo, "--workers", "2").json()
    assert again["status"] == "success"
    assert victim in {a["customer"] for a in again["actions"]}
    redone = {(a["customer"], a["step"], a["invoice"]) for a in again["actions"]}
    assert not done & redone  # the batches done are not redone
    assert len(done) + len(redone) <= len(one["actions"])
    assert contents(demo.db_url)["outbox"] == contents(cli.db_url)["outbox"]
    assert contents(demo.db_url)["letter"] == contents(cli.db_url)["letter"]
    assert query(demo.db_url, "SELECT status FROM run ORDER BY id") == [
        ("interrupted",), ("success",)]


KILLED_RUN = """
import os, sys, time
from arrears.core import book, cli, hookimpl

book.BATCH = 20
made = cli.get_plugin_manager

class Slow:
    @hookimpl
    def exclude_customer(self, customer):
        with open(sys.argv[2], "a") as file:
            file.write(f"{os.getpid()}\\n")
        time.sleep(0.02)

def slow_manager(**options):
    pm = made(**options)
    pm.register(Slow(), name="slow")
    return pm

cli.get_plugin_manager = slow_manager
cli.main(["--db", sys.argv[1], "run", "--workers", "2"])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux only")
def test_a_killed_run_leaves_no_worker_behind_and_the_next_run_goes_ahead(demo, tmp_path):
    import signal
    import subprocess
    import time

    seen = tmp_path / "pids"
    parent = subprocess.Popen([sys.executable, "-c", KILLED_RUN, demo.db_url, str(seen)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = {int(p) for p in seen.read_text().split()} - {parent.pid} \
            if seen.exists() else set()
    assert len(workers) == 2, "the run's two workers never started"
    parent.send_signal(signal.SIGKILL)  # as cron's timeout, or an operator, would
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
        except (FileNotFoundError, IndexError):
            return False

    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # never leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, "the killed run's workers outlived it"
    again = run(demo, "--no-wait", "--workers", "2").json()  # not "another run in progress"
    assert again["status"] == "success" and again["actions"]
    assert [s for (s,) in query(demo.db_url, "SELECT status FROM run ORDER BY id")] == [
        "interrupted", "success"]


@backends("sqlite")  # checked before the database is opened
@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_workers_must_be_a_positive_number(arrears_cli, value):
    result = arrears_cli("run", "--workers", value).assert_exit(2)
    assert "--workers" in result.stderr


@pytest.mark.parametrize(("cpus", "workers"), [(1, 1), (2, 2), (3, 3), (16, 4)])
def test_the_default_is_one_worker_per_cpu_this_process_may_use_up_to_four(
        cpus, workers, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # the host's: not what counts
    assert run_module.default_workers() == workers


def test_a_database_in_this_process_memory_is_decided_here(arrears_pm, pids, monkeypatch):
    """Forked workers could not reach it: they would each open an empty one."""
    from datetime import date

    from arrears.core import demo
    from arrears.core.cli import Runtime

    runtime = Runtime(arrears_pm, "sqlite://")
    db = runtime.database(current=False)
    db.upgrade()
    demo.load(db, runtime.registry, today=date(2025, 6, 16))
    monkeypatch.setattr(book, "BATCH", 20)
    with db.read() as connection:
        setup = runtime.setup(connection)
    result = run_module.simulate(db, arrears_pm, setup, date(2025, 6, 16), workers=3)
    assert len(result.actions) > 100 and result.errors == []
    assert set(pids.read_text().split()) == {str(os.getpid())}
    runtime.close()


class PowerCut(BaseException):
    """Not an Exception: no plugin's failure, the run itself stops (a module's class, so
    that the worker can send it back)."""


def test_a_batch_that_stops_the_run_starts_no_other_batch(demo, whole, arrears_plugin,
                                                          monkeypatch):
    cli, one = whole
    monkeypatch.setattr(book, "BATCH", 10)
    first = one["actions"][0]["customer"]

    @hookimpl(tryfirst=True)
    def execute_action(action):
        if action.customer == first:
            raise PowerCut("the machine stopped")

    plugin = arrears_plugin(execute_action, name="cut")
    with pytest.raises(PowerCut):
        demo("run", "--workers", "2")
    assert query(demo.db_url, "SELECT status FROM run") == [("interrupted",)]
    done = query(demo.db_url, "SELECT count(*) FROM step_run")[0][0]
    assert done < len(one["actions"]) // 2  # the batches queued behind were not started

    demo.pm.unregister(plugin)
    again = run(demo, "--workers", "2").json()
    assert again["status"] == "success"
    assert done + len(again["actions"]) == len(one["actions"])


def test_the_parent_holds_no_batch_s_outcome_once_collected(demo, monkeypatch):
    """The day's actions go to the spool as each batch is collected; a list of every
    batch's outcome, kept to the end, made memory grow with the day (91 MiB at 1M)."""
    import gc
    import weakref

    from arrears.core.db import Database

    monkeypatch.setattr(book, "BATCH", 20)
    db = Database(demo.db_url)
    try:
        with db.read() as connection:
            setup = demo_setup(demo, connection)
        job = run_module.DecideBatch(db, demo.pm, setup, date.today(), run_module._rates(
            db, setup), book.with_open_invoices())
        seen = []
        for outcome in run_module.decide_all(job, workers=2):
            seen.append(weakref.ref(outcome))
            del outcome
            gc.collect()
            assert sum(ref() is not None for ref in seen[:-1]) == 0
        assert len(seen) > 5
    finally:
        db.dispose()


def demo_setup(cli: Any, connection: Any) -> Any:
    from arrears.core import setupfile
    from arrears.core.plugins import Registry

    return setupfile.stored(connection, Registry.collect(cli.pm))
