"""bplint's public API is type-checked: mypy --strict passes on the package (configured in pyproject)."""

import os

from bplint_testutil import REPO_ROOT
from mypy import api as mypy_api  # a development dependency: missing, the test fails instead of skipping


def test_mypy_strict_passes_on_bplint(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # mypy reads [tool.mypy] from pyproject.toml
    out, err, status = mypy_api.run(["--cache-dir", os.devnull] if os.name != "nt" else [])
    assert status == 0, out + err


def test_the_package_says_it_is_typed():
    assert (REPO_ROOT / "bplint" / "py.typed").is_file()
