"""``arrears run --shard K/N``: N processes share one day's run (docs/postgresql.md), on
the demo book (300 customers, a few hundred actions on its date)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from arrears.core import hookimpl
from arrears.core.db import Database
from arrears.core.errors import ArrearsError
from arrears.core.testing import Cli, backends

TABLES = ("step_run", "history", "outbox", "letter", "letter_invoice", "activity")


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def written(url: str) -> dict[str, int]:
    """Rows per table that a run writes."""
    return {table: query(url, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


def key(action: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(action.items()))


def actions(*results: dict[str, Any]) -> Counter[tuple[Any, ...]]:
    return Counter(key(a) for result in results for a in result["actions"])


def run(cli: Any, *args: str, code: int | None = 0) -> Any:
    """``run --format json ARGS``, exiting *code* (None: 0, or 1 for a run with errors)."""
    result = cli("run", "--format", "json", *args)
    return result.assert_exit(result.exit_code if code is None and result.exit_code in (0, 1)
                              else code)


@pytest.fixture
def demo(arrears_cli: Any) -> Any:
    arrears_cli("init", "--demo").assert_success()
    return arrears_cli


@pytest.fixture
def twin(arrears_new_db_url: Any, arrears_pm: Any) -> Any:
    """A second database with the same demo book, and its whole run's result."""
    cli = Cli(arrears_new_db_url(), arrears_pm)
    cli("init", "--demo").assert_success()
    result = run(cli).json()
    assert result["status"] == "success" and len(result["actions"]) > 100
    return cli, result


def test_three_shard_processes_at_once_do_exactly_what_one_run_does(demo, twin):
    twin_cli, whole = twin
    env = {**os.environ, "ARREARS_DB": demo.db_url}
    processes = [subprocess.Popen([sys.executable, "-m", "arrears.core", "run", "--shard",
                                   f"{k}/3", "--format", "json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
                 for k in (1, 2, 3)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        results.append(json.loads(out))
    assert [r["shard"] for r in results] == ["1/3", "2/3", "3/3"]
    assert {r["status"] for r in results} == {"success"}
    assert "success" in {r["day"] for r in results}  # the last to finish completed the day
    assert actions(*results) == actions(whole)
    customers = [{a["customer"] for a in r["actions"]} for r in results]
    assert all(customers) and not (customers[0] & customers[1] or customers[0] & customers[2]
                                   or customers[1] & customers[2])
    assert written(demo.db_url) == written(twin_cli.db_url)
    assert query(demo.db_url, "SELECT shard, shards, status FROM run ORDER BY shard") == [
        (1, 3, "success"), (2, 3, "success"), (3, 3, "success")]

    again = run(demo).json()  # the day is done
    assert again["status"] == "already-ran" and "shard" not in again
    assert run(demo, "--shard", "2/3").json()["status"] == "already-ran"


def test_the_day_counts_as_run_only_when_every_shard_succeeded(demo, twin):
    _, whole = twin
    first = run(demo, "--shard", "1/3")
    assert (first.json()["status"], first.json()["day"]) == ("success", "incomplete")
    assert "not complete until every shard has succeeded" in first.stderr
    again = run(demo, "--shard", "1/3")
    assert (again.json()["status"], again.json()["actions"]) == ("already-ran", [])
    assert "shard 1/3 of the run for" in again.stderr and "nothing to do" in again.stderr

    refused = demo("run", "--shard", "1/2").assert_exit(2)
    assert "split into 3 shards" in refused.stderr and "--shard K/3" in refused.stderr

    second = run(demo, "--shard", "3/3").json()
    assert second["day"] == "incomplete"
    last = run(demo, "--shard", "2/3")
    assert last.json()["day"] == "success"
    assert "complete: every shard succeeded" in last.stderr
    assert actions(first.json(), second, last.json()) == actions(whole)
    assert "shard" not in run(demo).json()


def test_a_whole_run_finishes_a_day_that_shards_began(demo, twin):
    _, whole = twin
    first = run(demo, "--shard", "2/3").json()
    rest = run(demo).json()
    assert rest["status"] == "success" and "shard" not in rest
    assert actions(first, rest) == actions(whole)
    assert run(demo, "--shard", "1/3").json()["status"] == "already-ran"


def test_a_shard_rerun_after_errors_repeats_nothing(demo, twin, arrears_plugin):
    _, whole = twin
    broken = sorted({a["customer"] for a in whole["actions"]})[:3]

    @hookimpl(tryfirst=True)
    def exclude_customer(customer):
        if customer.account in broken:
            raise ArrearsError("the CRM did not answer")

    plugin = arrears_plugin(exclude_customer, name="flaky")
    results = [run(demo, "--shard", f"{k}/2", code=None).json() for k in (1, 2)]
    failed = {e["customer"] for r in results for e in r["errors"]}
    assert failed == set(broken)
    assert "errors" in {r["status"] for r in results}
    assert {r["day"] for r in results} == {"incomplete"}

    demo.pm.unregister(plugin)
    again = [run(demo, "--shard", f"{k}/2").json() for k in (1, 2)]
    assert {a["customer"] for r in again for a in r["actions"]} <= set(broken)
    assert actions(*results, *again) == actions(whole)
    assert {r["status"] for r in again} <= {"success", "already-ran"}
    assert again[-1]["day"] == "success"
    assert run(demo).json()["status"] == "already-ran"


@backends("sqlite")  # checked before the database is opened
@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "a/b", "1/0", "-1/3", "2/1", "1/1001"])
def test_a_bad_shard_is_bad_usage(arrears_cli, value):
    result = arrears_cli("run", "--shard", value).assert_exit(2)
    assert "--shard: expected K/N" in result.stderr


def test_one_shard_of_one_is_the_whole_run(demo):
    result = run(demo, "--shard", "1/1").json()
    assert result["status"] == "success" and "shard" not in result
    assert query(demo.db_url, "SELECT shard, shards FROM run") == [(None, None)]


def test_shards_share_the_run_lock_but_not_their_own(demo):
    db = Database(demo.db_url)
    try:
        with db.run_lock(shard=1):
            refused = demo("run", "--shard", "1/3", "--no-wait").assert_exit(1)
            assert "shard 1 of the run is in progress elsewhere" in refused.stderr
            refused = demo("run", "--no-wait").assert_exit(1)
            assert "another arrears run is in progress" in refused.stderr
            assert run(demo, "--shard", "2/3", "--no-wait").json()["status"] == "success"
        with db.run_lock():
            refused = demo("run", "--shard", "3/3", "--no-wait").assert_exit(1)
            assert "another arrears run is in progress" in refused.stderr
    finally:
        db.dispose()


def test_a_killed_shard_is_marked_interrupted_by_its_rerun_only(demo):
    run(demo, "--shard", "1/2")
    # As a killed process leaves them: shard 2 and a whole run still "running".
    db = Database(demo.db_url)
    with db.begin() as connection:
        connection.execute(text(
            "INSERT INTO run (kind, date, status, started_at, shard, shards) VALUES "
            "('run', (SELECT date FROM run WHERE shard = 1), 'running', '2025-01-01 00:00:00', "
            "2, 2), ('run', '2000-01-01', 'running', '2025-01-01 00:00:00', NULL, NULL)"))
    db.dispose()
    run(demo, "--shard", "2/2")
    assert query(demo.db_url, "SELECT shard, status FROM run ORDER BY id") == [
        (1, "success"), (2, "interrupted"), (None, "interrupted"), (2, "success")]
