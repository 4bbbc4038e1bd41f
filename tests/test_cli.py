"""The CLI contract of spec/CLI.md that holds for every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def arrears(*args: str, cwd: Path, env: dict[str, str] | None = None):
    environment = {k: v for k, v in os.environ.items() if k != "ARREARS_DB"}
    return subprocess.run([sys.executable, "-m", "arrears.core", *args], capture_output=True,
                          text=True, cwd=cwd, env={**environment, **(env or {})})


def test_default_database_is_arrears_db_in_the_current_folder(tmp_path):
    assert arrears("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "arrears.db").exists()


def test_arrears_db_variable_names_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    assert arrears("init", cwd=tmp_path, env={"ARREARS_DB": url}).returncode == 0
    assert (tmp_path / "env.db").exists() and not (tmp_path / "arrears.db").exists()


def test_a_missing_database_is_not_created_by_other_commands(tmp_path):
    result = arrears("setup", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "no arrears database at arrears.db: create it with `arrears init`" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "arrears.db").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_an_output_that_cannot_be_written_is_said_not_called_a_bug(tmp_path):
    assert arrears("init", "--demo", cwd=tmp_path).returncode == 0
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "arrears.core", "history"], cwd=tmp_path,
                                stdout=full, stderr=subprocess.PIPE, text=True,
                                env={k: v for k, v in os.environ.items() if k != "ARREARS_DB"})
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: No space left on device"


def test_a_file_that_is_not_a_database_is_a_wrong_db(tmp_path):
    (tmp_path / "notes.db").write_text("not a database\n" * 100)
    result = arrears("--db", f"sqlite:///{tmp_path / 'notes.db'}", "history", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == \
        f"Error: --db: sqlite:///{tmp_path / 'notes.db'}: file is not a database"


def test_a_folder_arrears_may_not_write_is_named_as_the_cause(tmp_path):
    import shutil

    assert arrears("init", "--demo", cwd=tmp_path).returncode == 0
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(tmp_path / "arrears.db", locked)
    locked.chmod(0o555)
    prefix = []  # root writes anywhere: drop the capabilities that let it
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop the right to write anywhere")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "arrears.core", "--db",
                                 f"sqlite:///{locked / 'arrears.db'}", "history"],
                                capture_output=True, text=True, cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "attempt to write a readonly database (SQLite writes the database file and, in " \
        "its folder, its -wal and -shm files" in result.stderr


def test_a_bad_database_url_is_bad_usage(tmp_path):
    result = arrears("--db", "not a url", "setup", "show", cwd=tmp_path)
    assert result.returncode == 2 and "--db" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_server_hides_the_password(tmp_path):
    url = "postgresql://arrears:s3cr3t-pa55@127.0.0.1:1/arrears"
    result = arrears("--db", url, "setup", "show", cwd=tmp_path)
    assert result.returncode == 1
    assert "database error on postgresql+psycopg://arrears:***@127.0.0.1:1/arrears" in result.stderr
    assert "s3cr3t-pa55" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_folder_that_does_not_exist_is_bad_usage(tmp_path):
    result = arrears("--db", f"sqlite:///{tmp_path}/no/such/x.db", "init", cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_misuse_exits_2_with_usage(tmp_path):
    result = arrears("import", "widgets", "x.csv", cwd=tmp_path)
    assert result.returncode == 2 and "'widgets' is not one of 'customers'" in result.stderr


def test_a_database_driver_that_is_not_installed_is_named(tmp_path):
    # As on a machine without the [postgresql] extra: psycopg cannot be imported.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['psycopg'] = None; "
         "from arrears.core.cli import main; main()",
         "--db", "postgresql://u:p4ss@127.0.0.1/x", "setup", "show"],
        capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "needs the Python package psycopg, which is not installed" in result.stderr
    assert "pip install 'arrears[postgresql]'" in result.stderr
    assert "p4ss" not in result.stderr and "Traceback" not in result.stderr


def test_a_driver_arrears_does_not_speak_is_refused_naming_the_one_it_does(tmp_path):
    result = arrears("--db", "postgresql+pg8000://u:p4ss@127.0.0.1/x", "setup", "show",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert "arrears reaches PostgreSQL through psycopg 3 only" in result.stderr
    assert "p4ss" not in result.stderr and "Traceback" not in result.stderr


def test_a_runs_actions_stream_out_as_the_json_they_would_be_at_once():
    from datetime import date

    from arrears.core import output
    from arrears.core.domain import Action
    from arrears.core.run import ActionSpool

    actions = [Action(f"C{n}", "STD", "Call", "activity", f"INV-{n}", date(2025, 1, n + 1),
                      "CALL", "ANNA") for n in range(3)]
    actions[1] = Action("C1", "SE", "Påminnelse\nrad två\x1e\r", "email", None,
                        date(2025, 1, 2), None, "a@b.example")  # any text survives the spool
    spool = ActionSpool()
    spool.extend(ActionSpool.encode(actions[:2]))
    assert list(spool) == actions[:2]  # read back between batches, then written on
    spool.extend(ActionSpool.encode(actions[2:]))
    assert (len(spool), list(spool), list(spool)) == (3, actions, actions)
    whole = output.to_json(
        {"date": date(2025, 1, 9), "actions": actions, "none": [], "errors": []}) + "\n"
    for streamed in (spool, spool.encoded()):  # the actions, or as they were encoded
        pieces: list[str] = []
        output.write_json({"date": date(2025, 1, 9), "actions": streamed,
                           "none": ActionSpool().encoded(), "errors": []}, pieces.append)
        assert "".join(pieces) == whole
