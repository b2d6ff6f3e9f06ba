"""Helpers shared by the bplint tests (imported by the test modules)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from bplint.engine import analyse
from bplint.registry import all_rules
from bplint.rules._requirements import VersionRange
from bplint.selection import Selection

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_OPTIONS = {"cpu_only": False, "pin_policy": "application"}
# Every rule, opt-in rules included, with suppression comments applied.
EVERY_RULE = Selection([r.code for r in all_rules()], [], [], [])


def lint_source(path: str, kind: str, data: bytes, options: dict | None = None):
    """All findings of a document with every rule enabled and suppression comments applied."""
    analysis = analyse(path, kind, data, options or DEFAULT_OPTIONS)
    return EVERY_RULE.for_file(path).apply(analysis.findings, analysis.noqa, analysis.disabled)


# Families of the core rules: tests written for them ignore findings of the later families.
CORE = ("BPL0", "BPL1", "BPL2", "BPL3", "BPL9")


def lint(source: str, kind: str = "python", path: str = "script.py", families: tuple | None = None,
         **options):
    """Findings of a document given as text (dedented), optionally only of the given code prefixes."""
    opts = {**DEFAULT_OPTIONS, **options}
    if "pins" in opts:  # {"transformers": "<5"}: the versions a requirement file would allow
        opts["pins"] = {pkg: VersionRange.parse(spec).to_list() for pkg, spec in opts["pins"].items()}
    data = textwrap.dedent(source).encode() if isinstance(source, str) else source
    found = lint_source(path, kind, data, opts)
    return found if families is None else [f for f in found if f.code.startswith(families)]


def codes(source: str, kind: str = "python", families: tuple | None = None, **options) -> list[str]:
    return [f.code for f in lint(source, kind, families=families, **options)]


def notebook(*cells, nbformat: int = 4) -> str:
    """A notebook JSON document; each cell is source text or a (cell_type, source) pair."""
    out = []
    for c in cells:
        ctype, src = c if isinstance(c, tuple) else ("code", c)
        src = textwrap.dedent(src)
        out.append({"cell_type": ctype, "metadata": {}, "source": src.splitlines(keepends=True),
                    **({"outputs": [], "execution_count": None} if ctype == "code" else {})})
    return json.dumps({"cells": out, "metadata": {}, "nbformat": nbformat, "nbformat_minor": 5}, indent=1)


def run_cli(*args: str, cwd: Path | str | None = None, check_no_traceback: bool = True):
    """Run ``python -m bplint`` in a subprocess (the environment's bplint is this checkout's)."""
    proc = subprocess.run([sys.executable, "-m", "bplint", *args], cwd=cwd or REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    if check_no_traceback:
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stdout, proc.stdout
    return proc
