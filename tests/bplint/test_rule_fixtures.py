"""Every rule against its fixture files, bugbear style: the expected findings are written in the
fixture itself, one per line, as ``# BPL203: 14:9 [safe fix] "message"`` (``cell_N:`` before the
line in notebooks), in a block that starts with ``# Expected findings``.

A fixture checks the codes in its name (``bpl203.py``, ``bpl501_pinned_4/train.py``) and those of a
``# checks: BPL202 BPL501`` line: for these codes bplint must report exactly the expected findings,
with their line, column, message and fix safety; no fixture may produce BPL900. Set
``BPLINT_UPDATE_FIXTURES=1`` to rewrite the blocks from bplint's output, then review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from bplint_testutil import REPO_ROOT

from bplint.config import Config
from bplint.engine import lint_document
from bplint.registry import all_rules
from bplint.sources import file_kind

FIXTURES = REPO_ROOT / "tests" / "bplint" / "fixtures" / "rules"
HEADER = "# Expected findings"
EXPECT = re.compile(r'#\s*(BPL\d{3}):\s*(?:cell_(\d+):)?(\d+):(\d+)'
                    r'(?:\s+\[(safe|unsafe) fix\])?\s+"(.*)"\s*$')
CHECKS = re.compile(r"#\s*checks:\s*((?:BPL\d{3}[\s,]*)+)")


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and file_kind(str(p)) is not None)


def _lines(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [line for c in cells for line in "".join(c["source"]).splitlines()]
    return path.read_text(encoding="utf-8").splitlines()


def checked_codes(path: Path) -> set[str]:
    codes = {m.upper() for m in re.findall(r"bpl\d{3}", str(path.relative_to(FIXTURES)))}
    for line in _lines(path):
        m = CHECKS.search(line)
        if m:
            codes.update(re.findall(r"BPL\d{3}", m.group(1)))
    return codes


def expected(path: Path) -> list[tuple]:
    return sorted((m.group(1), int(m.group(2)) if m.group(2) else None, int(m.group(3)), int(m.group(4)),
                   m.group(5), m.group(6))
                  for line in _lines(path) if (m := EXPECT.search(line)))


def found(path: Path) -> list[tuple]:
    config = Config()
    config.root = str(FIXTURES)
    config.select = [r.code for r in all_rules()]  # opt-in rules too
    findings = lint_document(str(path), path.read_bytes(), config=config)
    assert not [f for f in findings if f.code == "BPL900"], findings
    codes = checked_codes(path)
    return sorted((f.code, f.cell, f.line, f.col + 1, _safety(f), f.message)
                  for f in findings if f.code in codes)


def _safety(f) -> str | None:
    if f.fix is None:
        return None
    return "safe" if f.fix.safe else "unsafe"


def _block(findings: list[tuple]) -> list[str]:
    lines = [f"{HEADER} (code: line:column [fix] \"message\"):"]
    for code, cell, line, col, fix, message in findings:
        where = f"cell_{cell}:{line}:{col}" if cell else f"{line}:{col}"
        lines.append(f'# {code}: {where}{f" [{fix} fix]" if fix else ""} "{message}"')
    return lines


def update(path: Path) -> None:
    """Rewrite the expectation block of a fixture from bplint's output (for review in the diff)."""
    block = _block(found(path))
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        nb["cells"] = [c for c in nb["cells"] if not "".join(c["source"]).startswith(HEADER)]
        source = [line + "\n" for line in block]
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": source})
        path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if HEADER in text:
        text = text[: text.index(HEADER)].rstrip("\n") + "\n"
    path.write_text(text + "\n" + "\n".join(block) + "\n", encoding="utf-8")


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture(path: Path):
    if os.environ.get("BPLINT_UPDATE_FIXTURES") == "1":
        update(path)
    assert checked_codes(path), f"{path.name}: no code to check (name it bplNNN or add a '# checks:' line)"
    assert found(path) == expected(path)


def test_every_rule_has_a_fixture():
    covered = set().union(*(checked_codes(p) for p in fixture_files()))
    untestable = {
        "BPL900",  # a rule bug: tested by breaking a rule on purpose (test_bad_input)
        "BPL801",  # a token-shaped literal is never committed: test_catalog assembles one at run time
    }
    assert {r.code for r in all_rules()} - untestable <= covered
