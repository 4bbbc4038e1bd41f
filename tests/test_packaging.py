"""The wheel carries every package and data file (a missing one only fails once installed)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for top, name in config["package-dir"].items():
        for init in (ROOT / name).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / name).parts
            assert ".".join((top, *relative)) in listed, f"{init.parent} is not packaged"


def test_the_wheel_holds_migrations_demo_and_markers(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("arrears-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("arrears/core/migrations/env.py", "arrears/core/migrations/script.py.mako",
                     "arrears/core/migrations/versions/0001_initial_schema.py",
                     "arrears/core/demo/setup.toml", "arrears/core/py.typed",
                     "arrears/plugins/py.typed", "arrears/plugins/pools.py"):
        assert required in names, required
    assert not any(name.startswith("arrears/__init__") for name in names)
