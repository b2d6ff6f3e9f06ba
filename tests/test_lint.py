"""The project eats its own cooking: ruff passes on code and notebooks."""

import shutil
import subprocess
import sys

import pytest

from utils import REPO_ROOT


def test_ruff_passes_on_code_and_notebooks():
    ruff = shutil.which("ruff") or pytest.skip("ruff not installed")
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bplint_has_a_version():
    result = subprocess.run(
        [sys.executable, "-m", "bplint", "--version"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("bplint ")
