"""Rule API and registry.

A rule is a small class with metadata (code, name, summary, severity, notebook, explanation) and
hooks called by the engine during the single pass over a file:

* ``node_types``: AST node classes the rule wants; ``visit(node)`` is called for each of them in
  source order (notebook cells in order).
* ``kinds``: the kinds of document the rule applies to (``python``, ``notebook``, ``requirements``,
  ``pyproject``).
* ``finish()``: called once per file after the walk, for rules that need whole-file facts.
* ``triggers``: substrings of which at least one must occur in the file for the rule to run (a
  cheap pre-filter; empty means always run).
* ``collectors``: shared fact collectors (see ``bplint.rules._facts``) that several rules read;
  each runs once per file, ``self.ctx.collector(cls)`` returns it.

Rules report through ``self.report(node_or_location, message=None)``. A new rule only needs a
subclass decorated with ``@register``.

Facts a rule needs from outside the document (the versions pinned next to it) come from
*document context* providers registered with ``@document_context``: the engine calls them per
document and passes what they return in ``ctx.options`` (and in the cache key).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from bplint.analysis import Context

ERROR = "error"
WARNING = "warning"

CODE_RE = re.compile(r"^BPL\d{3}$")

_REGISTRY: dict[str, type[Rule]] = {}
_CONTEXT: list[Callable[[str, str], dict[str, Any]]] = []


class Location:
    """A position in a document: 1-based line, 0-based column (displayed 1-based), optional cell."""

    __slots__ = ("cell", "col", "end_col", "end_line", "line")

    def __init__(self, line: int, col: int = 0, end_line: int | None = None, end_col: int | None = None,
                 cell: int | None = None) -> None:
        self.line = line
        self.col = col
        self.end_line = end_line if end_line is not None else line
        self.end_col = end_col if end_col is not None else col
        self.cell = cell


class Fix:
    """Text edits that fix a finding: ``(line, col, end_line, end_col, text)`` with 1-based lines and
    0-based columns (in a notebook: inside the finding's cell). Rules give AST positions (UTF-8 byte
    columns); the finding holds them in characters. ``safe`` fixes change nothing but the intended
    thing and are applied by ``--fix``; the others need ``--unsafe-fixes``."""

    __slots__ = ("edits", "safe", "title")

    def __init__(self, edits: list[tuple[int, int, int, int, str]], safe: bool = True,
                 title: str = "") -> None:
        self.edits = edits
        self.safe = safe
        self.title = title


class Finding:
    """One diagnostic of one rule in one document (the path is attached by the engine).

    Lines are 1-based and columns 0-based, counted in characters. In a notebook, ``line``/``col``
    are relative to the cell ``cell``; ``file_pos`` is then ``(line, col, end_line, end_col)`` in the
    ``.ipynb`` file itself when the notebook uses the standard layout (one JSON string per source
    line), else None. ``fix`` is the fix the rule offers, if any.
    """

    __slots__ = ("cell", "code", "col", "end_col", "end_line", "file_pos", "fix", "line", "message")

    def __init__(self, code: str, message: str, line: int, col: int, end_line: int, end_col: int,
                 cell: int | None = None, file_pos: list[int] | tuple[int, ...] | None = None,
                 fix: Fix | None = None) -> None:
        self.code = code
        self.message = message
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col
        self.cell = cell
        self.file_pos = tuple(file_pos) if file_pos else None
        self.fix = fix

    def to_list(self) -> list[Any]:
        fix = [self.fix.edits, self.fix.safe, self.fix.title] if self.fix else None
        return [self.code, self.message, self.line, self.col, self.end_line, self.end_col, self.cell,
                list(self.file_pos) if self.file_pos else None, fix]

    @classmethod
    def from_list(cls, data: list[Any]) -> Finding:
        *head, fix = data
        finding = cls(*head)
        if fix:
            edits, safe, title = fix
            finding.fix = Fix([tuple(e) for e in edits], safe, title)
        return finding

    def sort_key(self) -> tuple[int, int, int, str]:
        return (self.cell or 0, self.line, self.col, self.code)

    def __repr__(self) -> str:
        cell = f"cell {self.cell} " if self.cell is not None else ""
        return f"Finding({self.code} {cell}{self.line}:{self.col} {self.message!r})"


class Rule:
    """Base class of all rules. Subclass, fill in the metadata, implement hooks, ``@register``."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    severity: ClassVar[str] = WARNING
    notebook: ClassVar[str] = ""
    explanation: ClassVar[str] = ""
    kinds: ClassVar[frozenset[str]] = frozenset({"python", "notebook"})
    node_types: ClassVar[tuple[type, ...]] = ()
    triggers: ClassVar[tuple[str, ...]] = ()
    collectors: ClassVar[tuple[type, ...]] = ()
    # Opt-in rules run only when selected by their full code, or when the boolean configuration key
    # named by ``enabled_by`` is true.
    opt_in: ClassVar[bool] = False
    enabled_by: ClassVar[str] = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def wanted(cls, text: str) -> bool:
        """Finer pre-filter than ``triggers`` on the file's text (called only when a trigger matched)."""
        return True

    def visit(self, node: Any) -> None:  # pragma: no cover - overridden
        pass

    def finish(self) -> None:
        pass

    def report(self, where: Any, message: str | None = None, *, cell: int | None = None,
               fix: Fix | None = None) -> None:
        self.ctx.add(self.code, message or self.summary, where, cell=cell, fix=fix)


def register(cls: type[Rule]) -> type[Rule]:
    if not CODE_RE.match(cls.code):
        raise ValueError(f"bad rule code {cls.code!r}")
    if cls.code in _REGISTRY:
        raise ValueError(f"duplicate rule code {cls.code}")
    for attr in ("name", "summary", "explanation"):
        if not getattr(cls, attr):
            raise ValueError(f"rule {cls.code} has no {attr}")
    _REGISTRY[cls.code] = cls
    return cls


def document_context(provider: Callable[[str, str], dict[str, Any]]) -> Callable[[str, str], dict[str, Any]]:
    """Register ``provider(path, project_root) -> dict``: facts about a document from its
    surroundings, merged into the options the rules see (and into the cache key)."""
    _CONTEXT.append(provider)
    return provider


def context_for(path: str, root: str) -> dict[str, Any]:
    _load()
    out: dict[str, Any] = {}
    for provider in _CONTEXT:
        out.update(provider(path, root))
    return out


def _load() -> None:
    if not _REGISTRY:
        import bplint.rules  # noqa: F401  (registers the built-in rules)


def all_rules() -> list[type[Rule]]:
    _load()
    return [_REGISTRY[c] for c in sorted(_REGISTRY)]


def get_rule(code_or_name: str) -> type[Rule] | None:
    _load()
    key = code_or_name.strip()
    if key.upper() in _REGISTRY:
        return _REGISTRY[key.upper()]
    for rule in _REGISTRY.values():
        if rule.name == key:
            return rule
    return None


def is_valid_selector(selector: str) -> bool:
    """True for ``ALL`` or a prefix of at least one registered code (``BPL``, ``BPL2``, ``BPL201``)."""
    _load()
    sel = selector.strip().upper()
    if sel == "ALL":
        return True
    return bool(sel) and any(code.startswith(sel) for code in _REGISTRY)


def matches(code: str, selector: str) -> int:
    """Length of the match of ``selector`` on ``code`` (0 when it does not match)."""
    sel = selector.upper()
    if sel == "ALL":
        return 1
    return len(sel) if code.startswith(sel) else 0
