"""Which findings are reported: rule selection and suppression comments, in one place.

The engine analyses a document with every rule (the result is cached whatever the selection) and
then applies a ``Selection`` to it; ``--fix`` and ``--add-noqa`` apply the same ``Selection``, so a
fix is made exactly for the findings that would be reported.

* Selection follows ruff: a code is enabled when it matches ``select``/``extend-select``, unless an
  ``ignore`` entry matches it at least as specifically; opt-in rules need their full code (or the
  configuration key named by the rule's ``enabled_by``); ``per-file-ignores`` remove codes per file.
* ``# noqa`` / ``# noqa: CODES`` on the first or last line of a finding suppress it;
  ``# bplint: disable=CODES`` on a line of its own disables codes for the whole document.
* BPL901 (opt-in) reports ``noqa`` codes that suppressed nothing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from bplint.registry import Finding, Fix, all_rules, get_rule, is_valid_selector, matches

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
DISABLE = re.compile(r"#\s*bplint:\s*disable\s*=\s*(?P<codes>[A-Z]+[0-9]*(?:[\s,]+[A-Z]+[0-9]*)*)",
                     re.IGNORECASE)
UNUSED_NOQA = "BPL901"
Used = set[tuple[int, str | None]]  # (id of a noqa comment, code it suppressed; None for a bare noqa)


class Noqa:
    """A ``# noqa`` comment: where it is (cell, line, character span), its codes (None: all), the
    blanks before it and whether text follows it on the line."""

    __slots__ = ("cell", "codes", "end", "lead", "line", "start", "tail")

    def __init__(self, cell: int | None, line: int, start: int, end: int, codes: list[str] | None,
                 lead: int = 0, tail: bool = False) -> None:
        self.cell = cell
        self.line = line
        self.start = start
        self.end = end
        self.codes = codes
        self.lead = lead
        self.tail = tail

    def to_list(self) -> list[Any]:
        return [self.cell, self.line, self.start, self.end, self.codes, self.lead, self.tail]


def _codes(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [c.upper() for c in re.split(r"[\s,]+", text) if c]


def directives(sources: dict[int | None, list[str]], code: bool = False) -> tuple[list[Noqa], list[str]]:
    """``noqa`` comments and file-level ``bplint: disable`` codes of a document's lines. In Python
    code (``code``: a script or notebook cells) only comments count, not a string that contains
    ``# noqa`` (a test's sample source, a rule's documentation)."""
    noqa: list[Noqa] = []
    disabled: list[str] = []
    for cell, lines in sources.items():
        comments: dict[int, int] | None = None
        for n, line in enumerate(lines, start=1):
            if "#" not in line:
                continue
            low = line.lower()
            if "bplint:" not in low and "noqa" not in low:
                continue
            if code and comments is None:
                comments = _comment_columns(lines)
            if comments is not None and not comments:
                break
            m = DISABLE.search(line) if "bplint:" in low else None
            if m and _in_comment(comments, n, m.start()):
                disabled += _codes(m.group("codes")) or []
            m = NOQA.search(line) if "noqa" in low else None
            if m and _in_comment(comments, n, m.start()):
                before = line[:m.start()]
                noqa.append(Noqa(cell, n, m.start(), m.end(), _codes(m.group("codes")),
                                 len(before) - len(before.rstrip()), bool(line[m.end():].strip())))
    return noqa, disabled


def _comment_columns(lines: list[str]) -> dict[int, int] | None:
    """Line -> column where the line's comment starts; None when the text does not tokenize (then
    every ``#`` counts, as in a requirement file)."""
    import io
    import tokenize

    out: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.start[1]
    except (tokenize.TokenError, SyntaxError):
        return None
    return out


def _in_comment(comments: dict[int, int] | None, line: int, col: int) -> bool:
    if comments is None:
        return True
    start = comments.get(line)
    return start is not None and col >= start


class Selection:
    """The rules enabled for a run, per file, and the suppression of findings by comments."""

    def __init__(self, select: list[str], extend_select: list[str], ignore: list[str],
                 per_file_ignores: list[tuple[str, list[str]]],
                 switches: dict[str, bool] | None = None) -> None:
        self.select = select
        self.extend_select = extend_select
        self.ignore = ignore
        self.per_file_ignores = per_file_ignores
        self.switches = switches or {}  # configuration keys that turn opt-in rules on
        self._enabled: dict[str, bool] = {}

    def enabled(self, code: str) -> bool:
        """The code is selected for the run (before per-file ignores)."""
        hit = self._enabled.get(code)
        if hit is None:
            chosen = self.select + self.extend_select
            on = max((matches(code, s) for s in chosen), default=0)
            off = max((matches(code, s) for s in self.ignore), default=0)
            hit = on > 0 and on > off
            rule = get_rule(code) if hit else None
            if rule is not None and rule.opt_in:
                explicit = any(s.upper() == code for s in chosen)
                hit = explicit or bool(rule.enabled_by and self.switches.get(rule.enabled_by))
            self._enabled[code] = hit
        return hit

    def ignored_for(self, rel: str) -> tuple[str, ...]:
        """Codes and prefixes that ``per-file-ignores`` removes for a path relative to the root."""
        base = rel.rsplit("/", 1)[-1]
        out: list[str] = []
        for pat, codes in self.per_file_ignores:
            if (fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(base, pat)
                    or rel.startswith(pat.rstrip("/") + "/")):
                out.extend(codes)
        return tuple(out)

    def for_file(self, rel: str) -> FileSelection:
        return FileSelection(self, self.ignored_for(rel) if self.per_file_ignores else ())


class FileSelection:
    """The selection applied to one file: enabled codes and suppression comments."""

    def __init__(self, selection: Selection, ignored: tuple[str, ...]) -> None:
        self.selection = selection
        self.ignored = ignored

    def enabled(self, code: str) -> bool:
        return self.selection.enabled(code) and not code.startswith(self.ignored)

    def apply(self, findings: Iterable[Finding], noqa: list[Noqa], disabled: list[str]) -> list[Finding]:
        """The findings to report, sorted: enabled, not disabled for the file, not suppressed by a
        ``noqa`` comment; plus BPL901 for ``noqa`` codes that suppressed nothing, when enabled."""
        at = {(d.cell, d.line): d for d in noqa}
        used: Used = set()
        out = []
        for f in findings:
            if not self.enabled(f.code) or any(f.code.startswith(d) or d == "ALL" for d in disabled):
                continue
            if f.code != "BPL000" and self._suppressed(f, at, used):
                continue
            out.append(f)
        if self.enabled(UNUSED_NOQA) and not any(UNUSED_NOQA.startswith(d) or d == "ALL" for d in disabled):
            out.extend(self._unused(noqa, used))
        out.sort(key=Finding.sort_key)
        return out

    @staticmethod
    def _suppressed(f: Finding, at: dict[tuple[int | None, int], Noqa], used: Used) -> bool:
        hit = False
        for line in {f.line, f.end_line}:
            d = at.get((f.cell, line))
            if d is None:
                continue
            if d.codes is None:
                used.add((id(d), None))
                hit = True
                continue
            for c in d.codes:
                if f.code.startswith(c):
                    used.add((id(d), c))
                    hit = True
        return hit

    def _unused(self, noqa: list[Noqa], used: Used) -> list[Finding]:
        out = []
        for d in noqa:
            if d.codes is None:
                continue  # a bare noqa may be meant for another linter
            ours = [c for c in d.codes if c.startswith("BPL")]
            unknown = [c for c in ours if not is_valid_selector(c)]
            unused = [c for c in ours if c not in unknown and (id(d), c) not in used
                      and self._any_enabled(c) and c != UNUSED_NOQA]
            if not unused and not unknown:
                continue
            parts = []
            if unused:
                parts.append(f"unused: {', '.join(unused)}")
            if unknown:
                parts.append(f"unknown: {', '.join(unknown)}")
            drop = set(unused) | set(unknown)
            out.append(Finding(UNUSED_NOQA, f"Unused noqa directive ({'; '.join(parts)})", d.line, d.start,
                               d.line, d.end, d.cell, fix=_drop_codes(d, drop)))
        return out

    def _any_enabled(self, prefix: str) -> bool:
        return any(r.code.startswith(prefix) and self.enabled(r.code) for r in all_rules())


def _drop_codes(d: Noqa, drop: set[str]) -> Fix | None:
    """Remove unused codes from a noqa comment; the whole comment when none is left, only when it
    ends its line (text after it would otherwise become code)."""
    keep = [c for c in d.codes or () if c not in drop]
    if keep:
        return Fix([(d.line, d.start, d.line, d.end, f"# noqa: {', '.join(keep)}")], safe=True,
                   title="remove the unused codes")
    if d.tail:
        return None
    return Fix([(d.line, d.start - d.lead, d.line, d.end, "")], safe=True,
               title="remove the unused noqa comment")
