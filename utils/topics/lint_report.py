"""Run ``python -m bplint --format json`` on files and read its findings, whatever the JSON's shape.

bplint prints either a list of findings or an object with a ``findings`` list; each finding has a
``code``, a ``message`` and a location (``path``/``file``/``filename`` and ``line``/``lineno``/``row``,
at top level or under ``location``). ``run_bplint`` reports an unavailable or failing linter
instead of raising, so a notebook can record the check as not tested.
"""

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from utils import REPO_ROOT


@dataclass
class LintRun:
    available: bool
    exit_code: int | None
    findings: list[dict] = field(default_factory=list)
    error: str | None = None


def _first(mapping: dict, *keys: str):
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return None


def normalise(finding: dict) -> dict:
    """``{"code", "message", "path", "line", "column"}`` from one finding of any supported shape."""
    location = finding.get("location") if isinstance(finding.get("location"), dict) else {}
    merged = {**location, **{k: v for k, v in finding.items() if k != "location"}}
    line = _first(merged, "line", "lineno", "row", "start_line")
    column = _first(merged, "column", "col", "col_offset", "start_column")
    path = _first(merged, "path", "file", "filename")
    return {
        "code": str(merged.get("code", "")),
        "message": str(merged.get("message", "")),
        "path": str(path) if path is not None else None,
        "line": int(line) if line is not None else None,
        "column": int(column) if column is not None else None,
    }


def parse_findings(text: str) -> list[dict]:
    """Findings of bplint's JSON output (a list, or an object with a ``findings`` key), normalised."""
    document = json.loads(text) if text.strip() else []
    if isinstance(document, dict):
        document = document.get("findings", [])
    if not isinstance(document, list):
        raise ValueError(f"unexpected bplint JSON: {type(document).__name__}")
    return [normalise(item) for item in document]


def run_bplint(
    paths: list[str | Path], *, extra_args: tuple[str, ...] = ("--no-cache",), timeout: float = 120
) -> LintRun:
    """``python -m bplint --format json PATHS`` with this interpreter; exit 0 means clean, 1 findings.

    It runs from the repository root, so the repository's own bplint is the one imported.
    """
    command = [
        sys.executable,
        "-m",
        "bplint",
        "--format",
        "json",
        *extra_args,
        *(str(Path(p).resolve()) for p in paths),
    ]
    try:
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return LintRun(False, None, error=f"{type(error).__name__}: {error}")
    if done.returncode not in (0, 1):
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return LintRun(False, done.returncode, error=message[-1] if message else f"exit {done.returncode}")
    try:
        findings = parse_findings(done.stdout)
    except ValueError as error:  # json.JSONDecodeError included
        return LintRun(False, done.returncode, error=f"output is not bplint JSON: {error}")
    return LintRun(True, done.returncode, findings)
