"""pytest configuration of the bplint tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# Deliberately bad code linted by the tests: never collected (nbval would execute the notebook).
collect_ignore_glob = ["fixtures/*"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slow end-to-end test (deselect with -m 'not slow')")


@pytest.fixture
def project(tmp_path: Path):
    """A temporary project directory with a pyproject.toml; returns a writer function."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')

    def write(rel: str, content: str | bytes) -> Path:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(textwrap.dedent(content))
        return p

    write.root = tmp_path
    return write
