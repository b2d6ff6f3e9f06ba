"""The project eats its own cooking: ruff passes on code and notebooks."""

import subprocess
import sys

from utils import REPO_ROOT


def test_ruff_passes_on_code_and_notebooks():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bplint_has_a_version():
    result = subprocess.run(
        [sys.executable, "-m", "bplint", "--version"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("bplint ")
