"""Automatic fixes: precise text edits at AST positions, for scripts and notebook cells.

Only the edited source text changes: formatting and comments stay as they are, and in a notebook
the outputs, metadata and JSON layout are kept byte for byte (the notebook is fixed only when
re-serialising it unchanged reproduces the file exactly, as for files written by Jupyter).
"""

from __future__ import annotations

import json
import re

from bplint.engine import _lint_source, read_file
from bplint.sources import cell_text, decode

BOM = b"\xef\xbb\xbf"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> list[str]:
    """Lines with their ends, split as Python's tokenizer does (\\n, \\r\\n, \\r only)."""
    return _LINE.findall(text)


def _standard_lines(source: list) -> bool:
    """One JSON string per line, as Jupyter writes: every element but the last ends with \\n."""
    for s in source:
        if "\r" in s or s.count("\n") > 1 or ("\n" in s and not s.endswith("\n")):
            return False
    return all(s.endswith("\n") for s in source[:-1])


def _apply(text: str, edits: list) -> str | None:
    """Apply ``(line, byte_col, end_line, end_byte_col, replacement)`` edits; None when they overlap."""
    lines = _lines(text) or [""]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        if not 1 <= line <= len(lines):
            raise ValueError("edit outside the text")
        raw = lines[line - 1].encode("utf-8")
        return starts[line - 1] + len(raw[:col].decode("utf-8", errors="ignore"))

    spans = sorted(((offset(a, b), offset(c, d), new) for a, b, c, d, new in edits), reverse=True)
    out = text
    prev_start = None
    for start, end, new in spans:
        if prev_start is not None and end > prev_start:
            return None
        out = out[:start] + new + out[end:]
        prev_start = start
    return out


def _select(fixes: list, enabled, unsafe: bool) -> list:
    return [(f, fx) for f, fx in fixes if enabled(f.code) and (fx.safe or unsafe)]


def _apply_fixes(text: str, chosen: list) -> tuple[str, int]:
    """Apply fixes one finding at a time, skipping a fix that overlaps one already taken."""
    taken: list = []
    count = 0
    for _, fx in chosen:
        trial = _apply(text, taken + fx.edits)
        if trial is not None:
            taken += fx.edits
            count += 1
    out = _apply(text, taken) if taken else text
    return out if out is not None else text, count


def _layout(nb: dict, text: str):
    """Serialiser that reproduces this notebook file exactly, or None."""
    for sort_keys in (True, False):
        for ascii_ in (False, True):
            for indent in (1, 2):
                for tail in ("\n", ""):
                    def dump(obj, s=sort_keys, a=ascii_, i=indent, t=tail):
                        return json.dumps(obj, indent=i, sort_keys=s, ensure_ascii=a) + t
                    if dump(nb) == text:
                        return dump
    return None


def fix_source(path: str, kind: str, data: bytes, options: dict, enabled, unsafe: bool = False):
    """``(new bytes or None, number of fixes applied, note)`` for one document."""
    if kind not in ("python", "notebook"):
        return None, 0, ""
    fixes: list = []
    try:
        _lint_source(path, kind, data, options, fixes)
        text = decode(data)
    except Exception:  # unreadable or a rule failed: nothing to fix
        return None, 0, ""
    chosen = _select(fixes, enabled, unsafe)
    if not chosen:
        return None, 0, ""
    bom = BOM if data.startswith(BOM) else b""
    if kind == "python":
        new, count = _apply_fixes(text, chosen)
        return (bom + new.encode("utf-8") if count and new != text else None), count, ""
    nb = json.loads(text)
    dump = _layout(nb, text)
    if dump is None:
        return None, 0, "not fixed: the notebook's JSON layout cannot be reproduced exactly"
    by_cell: dict = {}
    for f, fx in chosen:
        by_cell.setdefault(f.cell, []).append((f, fx))
    total = 0
    cells = nb.get("cells", [])
    for index, items in by_cell.items():
        if index is None or not 1 <= index <= len(cells):
            continue
        cell = cells[index - 1]
        source = cell.get("source")
        src = cell_text(source)
        if src is None or (isinstance(source, list) and not _standard_lines(source)):
            continue
        new, count = _apply_fixes(src, items)
        if count and new != src:
            cell["source"] = _lines(new) if isinstance(source, list) else new
            total += count
    if not total:
        return None, 0, ""
    return bom + dump(nb).encode("utf-8"), total, ""


def fix_file(path: str, kind: str, options: dict, enabled, unsafe: bool = False):
    try:
        data = read_file(path)
    except ValueError:
        return None, None, 0, ""
    new, count, note = fix_source(path, kind, data, options, enabled, unsafe)
    return data, new, count, note


def unified_diff(path: str, old: bytes, new: bytes) -> str:
    import difflib

    a = old.decode("utf-8", errors="replace").splitlines(keepends=True)
    b = new.decode("utf-8", errors="replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}"))
