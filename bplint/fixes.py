"""Automatic edits: fixes and ``noqa`` comments, as precise text edits, for scripts, notebook cells
and requirement files.

Only the edited source text changes: formatting and comments stay as they are, and in a notebook
the outputs, metadata and JSON layout are kept byte for byte (the notebook is edited only when
re-serialising it unchanged reproduces the file exactly, as for files written by Jupyter). The
findings edited are those ``lint_document`` reports, under the same selection as the report.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bplint.engine import lint_document
from bplint.registry import Finding
from bplint.selection import NOQA, UNUSED_NOQA
from bplint.sources import BOM, cell_text, decode, neutralise_cell, split_lines

if TYPE_CHECKING:
    from bplint.config import Config

# (line, col, end_line, end_col, text): 1-based lines, 0-based character columns
Edit = tuple[int, int, int, int, str]
Edited = tuple[bytes | None, int, str]  # (new content or None when unchanged, edits applied, note)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
NOT_SUPPRESSIBLE = ("BPL000", UNUSED_NOQA)


def _lines(text: str) -> list[str]:
    """Lines with their ends, split as Python's tokenizer does (\\n, \\r\\n, \\r only)."""
    return _LINE.findall(text)


def _standard_lines(source: list[str]) -> bool:
    """One JSON string per line, as Jupyter writes: every element but the last ends with \\n."""
    for s in source:
        if "\r" in s or s.count("\n") > 1 or ("\n" in s and not s.endswith("\n")):
            return False
    return all(s.endswith("\n") for s in source[:-1])


def apply_edits(text: str, edits: list[Edit]) -> str | None:
    """Apply edits at character positions; None when two of them overlap or one is outside the text."""
    lines = _lines(text) or [""]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        if not 1 <= line <= len(lines) + 1:
            raise ValueError("edit outside the text")
        return starts[line - 1] + col

    try:
        spans = sorted(((offset(a, b), offset(c, d), new) for a, b, c, d, new in edits), reverse=True)
    except ValueError:
        return None
    out = text
    prev_start = None
    for start, end, new in spans:
        if prev_start is not None and end > prev_start:
            return None
        out = out[:start] + new + out[end:]
        prev_start = start
    return out


def _layout(nb: dict[str, Any], text: str) -> Callable[[Any], str] | None:
    """Serialiser that reproduces this notebook file exactly, or None."""
    for sort_keys in (True, False):
        for ascii_ in (False, True):
            for indent in (1, 2):
                for tail in ("\n", ""):
                    def dump(obj: Any, s: bool = sort_keys, a: bool = ascii_, i: int = indent,
                             t: str = tail) -> str:
                        return json.dumps(obj, indent=i, sort_keys=s, ensure_ascii=a) + t
                    if dump(nb) == text:
                        return dump
    return None


def edit_document(kind: str, data: bytes, edits: dict[int | None, list[list[Edit]]]) -> Edited:
    """Apply groups of edits (one group per finding, a group that overlaps one already taken is
    skipped) to a document, per notebook cell (key) or to the whole text (key None).

    Returns ``(new bytes or None, groups applied, note)``."""
    text = decode(data, python=kind == "python")
    bom = BOM if data.startswith(BOM) else b""
    if kind != "notebook":
        new, count = _apply_groups(text, edits.get(None, []))
        return (bom + new.encode("utf-8") if count and new != text else None), count, ""
    nb = json.loads(text)
    dump = _layout(nb, text)
    if dump is None:
        return None, 0, "not edited: the notebook's JSON layout cannot be reproduced exactly"
    cells = nb.get("cells", [])
    total = 0
    for index, groups in edits.items():
        if index is None or not 1 <= index <= len(cells):
            continue
        cell = cells[index - 1]
        source = cell.get("source")
        src = cell_text(source)
        if src is None or (isinstance(source, list) and not _standard_lines(source)):
            continue
        new, count = _apply_groups(src, groups)
        if count and new != src:
            cell["source"] = _lines(new) if isinstance(source, list) else new
            total += count
    if not total:
        return None, 0, ""
    return bom + dump(nb).encode("utf-8"), total, ""


def _apply_groups(text: str, groups: list[list[Edit]]) -> tuple[str, int]:
    taken: list[Edit] = []
    count = 0
    for group in groups:
        if apply_edits(text, taken + group) is not None:
            taken += group
            count += 1
    out = apply_edits(text, taken) if taken else text
    return (out if out is not None else text), count


# -- fixes -----------------------------------------------------------------------------------
def fix_source(path: str, kind: str, data: bytes, config: Config, unsafe: bool = False) -> Edited:
    """``(new bytes or None, number of fixes applied, note)`` for one document."""
    if kind == "pyproject":
        return None, 0, ""
    findings = lint_document(path, data, config=config, kind=kind)
    edits: dict[int | None, list[list[Edit]]] = {}
    for f in findings:
        if f.fix is not None and (f.fix.safe or unsafe):
            edits.setdefault(f.cell, []).append(list(f.fix.edits))
    if not edits:
        return None, 0, ""
    try:
        return edit_document(kind, data, edits)
    except ValueError:  # undecodable or not JSON: nothing to fix
        return None, 0, ""


# -- noqa comments ----------------------------------------------------------------------------
def _commentable_lines(source: str) -> set[int] | None:
    """Lines of Python source that end outside a string and without a continuation backslash,
    where a comment can be appended; None when the source does not tokenize."""
    out: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT):
                out.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError):
        return None
    return out


def _noqa_edits(lines: list[str], commentable: set[int] | None, findings: list[Finding]) -> list[list[Edit]]:
    """One edit per line: add the findings' codes to the line's noqa comment, or append one."""
    by_line: dict[int, list[str]] = {}
    for f in findings:
        for line in dict.fromkeys((f.line, f.end_line)):
            if 1 <= line <= len(lines) and (commentable is None or line in commentable):
                codes = by_line.setdefault(line, [])
                if f.code not in codes:
                    codes.append(f.code)
                break
    edits = []
    for line, codes in sorted(by_line.items()):
        text = lines[line - 1]
        m = NOQA.search(text)
        if m and m.group("codes") is None:
            continue  # a bare noqa suppresses everything already
        if m:
            old = [c.upper() for c in re.split(r"[\s,]+", m.group("codes")) if c]
            new = old + [c for c in codes if c not in old]
            edits.append([(line, m.start(), line, m.end(), f"# noqa: {', '.join(new)}")])
        else:
            end = len(text.rstrip())
            edits.append([(line, end, line, len(text), f"  # noqa: {', '.join(codes)}")])
    return edits


def add_noqa_source(path: str, kind: str, data: bytes, config: Config) -> Edited:
    """Add ``# noqa: CODES`` to the lines of every reported finding; ``(new bytes, lines, note)``."""
    reported = lint_document(path, data, config=config, kind=kind)
    findings = [f for f in reported if f.code not in NOT_SUPPRESSIBLE]
    if not findings:
        return None, 0, ""
    try:
        text = decode(data, python=kind == "python")
        by_cell: dict[int | None, list[Finding]] = {}
        for f in findings:
            by_cell.setdefault(f.cell, []).append(f)
        edits: dict[int | None, list[list[Edit]]] = {}
        if kind == "notebook":
            cells = json.loads(text).get("cells", [])
            for cell, found in by_cell.items():
                if cell is None or not 1 <= cell <= len(cells):
                    continue
                src = cell_text(cells[cell - 1].get("source")) or ""
                lines = split_lines(src)
                py = neutralise_cell(lines, cell, [])
                edits[cell] = _noqa_edits(lines, _commentable_lines(py) if py is not None else None, found)
        else:
            lines = split_lines(text)
            commentable = _commentable_lines(text) if kind == "python" else {
                n for n, line in enumerate(lines, start=1) if not line.rstrip().endswith("\\")}
            edits[None] = _noqa_edits(lines, commentable, by_cell.get(None, []))
        return edit_document(kind, data, edits)
    except ValueError:
        return None, 0, ""


def unified_diff(path: str, old: bytes, new: bytes) -> str:
    import difflib

    a = old.decode("utf-8", errors="replace").splitlines(keepends=True)
    b = new.decode("utf-8", errors="replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}"))
