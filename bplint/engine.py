# ruff: noqa: PTH100, PTH103, PTH105, PTH110, PTH112, PTH113, PTH116, PTH118, PTH120, PTH123
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Linting engine: file discovery, one parse and one pass per document, selection, cache, workers.

Public API (used by the command line, ``--fix`` and anyone embedding bplint)::

    from bplint.engine import lint_document
    findings = lint_document("train.py", source_bytes)             # defaults: every default rule
    findings = lint_document("nb.ipynb", data, config=config)      # a bplint.config.Config

``analyse`` gives every finding of every rule before selection (what the cache stores);
``lint_document`` applies the configuration's selection and suppression comments to it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from bplint import __version__
from bplint.analysis import Context
from bplint.registry import Finding, all_rules, context_for
from bplint.selection import FileSelection, Noqa, directives
from bplint.sources import file_kind, file_type, notebook_line_map, parse_error, read_bytes, read_document

if TYPE_CHECKING:
    from bplint.config import Config

PARALLEL_THRESHOLD = 64
# (path, kind, content or None to read it, options, cache directory or None, cache salt)
WorkItem = tuple[str, str, bytes | None, dict[str, Any], str | None, str]


class Analysis:
    """Every finding of one document before selection, and its suppression comments."""

    __slots__ = ("disabled", "findings", "noqa")

    def __init__(self, findings: list[Finding], noqa: list[Noqa] | None = None,
                 disabled: list[str] | None = None) -> None:
        self.findings = findings
        self.noqa = noqa or []
        self.disabled = disabled or []

    def to_json(self) -> list[Any]:
        return [[f.to_list() for f in self.findings], [d.to_list() for d in self.noqa], self.disabled]

    @classmethod
    def from_json(cls, data: list[Any]) -> Analysis:
        findings, noqa, disabled = data
        return cls([Finding.from_list(x) for x in findings], [Noqa(*x) for x in noqa], disabled)


def analyse(path: str, kind: str, data: bytes, options: dict[str, Any]) -> Analysis:
    """All findings of one document, before selection; never raises."""
    try:
        return _analyse(path, kind, data, options)
    except RecursionError:
        return Analysis([parse_error("cannot parse: nesting too deep")])
    except Exception as exc:  # never a traceback: report and go on
        return Analysis([Finding("BPL900", f"internal error: {type(exc).__name__}: {exc}"[:300], 1, 0, 1, 0)])


def _analyse(path: str, kind: str, data: bytes, options: dict[str, Any]) -> Analysis:
    doc = read_document(path, kind, data)
    findings = list(doc.errors)
    if doc.text:
        ctx = Context(path, kind, options, all_rules(), doc.text)
        ctx.lines, ctx.prompt_cols = doc.lines, doc.prompt_cols
        ctx.installs, ctx.requirements = doc.installs, doc.requirements
        ctx.pyproject, ctx.notebook = doc.pyproject, doc.notebook
        ctx.prescan([tree for _, tree in doc.trees])
        for cell, tree in doc.trees:
            ctx.walk(tree, cell=cell)
        ctx.finish()
        findings += ctx.findings
    if kind == "notebook" and findings and doc.notebook is not None:
        _map_to_file(findings, notebook_line_map(doc.text, doc.notebook))
    findings.sort(key=Finding.sort_key)
    noqa, disabled = directives(doc.lines, code=kind in ("python", "notebook"))
    return Analysis(findings, noqa, disabled)


def _map_to_file(findings: list[Finding], line_map: dict[int, tuple[int, list[int]]]) -> None:
    """Attach positions in the .ipynb file to notebook findings (standard layout only)."""
    for f in findings:
        entry = line_map.get(f.cell) if f.cell is not None else None
        if entry is None:
            continue
        base, cols = entry
        if not (1 <= f.line <= len(cols) and 1 <= f.end_line <= len(cols)):
            continue
        f.file_pos = (base + f.line - 1, cols[f.line - 1] + f.col,
                      base + f.end_line - 1, cols[f.end_line - 1] + f.end_col)


def lint_document(path: str, data: bytes | str, *, config: Config | None = None,
                  kind: str | None = None) -> list[Finding]:
    """The findings bplint reports for one document, sorted: analysed with the configuration's
    options and document context, then selected and suppressed as in a run of the command line.

    ``path`` names the document (it decides the kind when ``kind`` is None, and places it in the
    project for per-file ignores and version pins); ``data`` is its content.
    """
    from bplint.config import Config

    config = config or Config()
    kind = kind or file_kind(path, explicit=True) or "python"
    raw = data.encode("utf-8") if isinstance(data, str) else data
    analysis = analyse(path, kind, raw, options_for(path, config))
    return config.selection.for_file(relative(path, config.root)).apply(
        analysis.findings, analysis.noqa, analysis.disabled)


def options_for(path: str, config: Config) -> dict[str, Any]:
    """What the rules see of the configuration and of the document's surroundings."""
    return {**config.options(), **context_for(path, config.root)}


# -- files ------------------------------------------------------------------------------------
def relative(path: str, root: str) -> str:
    """Path relative to the project root, with ``/`` separators (for globs and messages)."""
    try:
        rel = os.path.relpath(os.path.abspath(path), root)
    except ValueError:
        rel = path
    return rel.replace(os.sep, "/")


class Discovery:
    """What the paths given on the command line hold."""

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []  # (path, kind)
        self.missing: list[str] = []
        self.special: list[tuple[str, str]] = []  # (path, what it is: a named pipe, a device)
        self.excluded: list[tuple[str, str]] = []  # (path, pattern), with --force-exclude


def discover(paths: list[str], config: Config, force_exclude: bool = False) -> Discovery:
    """Files to lint ``(path, kind)``: explicit files by kind (excluded ones too unless
    ``force_exclude``), directories recursively without excluded, default-skipped or git-ignored
    entries."""
    from fnmatch import fnmatch

    from bplint import gitignore
    from bplint.config import DEFAULT_EXCLUDES

    out = Discovery()
    seen: set[str] = set()
    root = config.root
    default_globs = [p for p in DEFAULT_EXCLUDES if "*" in p]
    default_names = set(DEFAULT_EXCLUDES)

    def add(path: str, kind: str) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            out.files.append((path, kind))

    for p in paths:
        if os.path.isfile(p):
            kind = file_kind(p, explicit=True)
            pattern = config.excluded_by(relative(p, root)) if force_exclude else None
            if pattern is not None:
                out.excluded.append((p, pattern))
            elif kind:
                add(p, kind)
            continue
        if not os.path.isdir(p):
            try:
                out.special.append((p, file_type(os.stat(p).st_mode)))
            except OSError:
                out.missing.append(p)
            continue
        ignore = gitignore.rules_for(p) if config.respect_gitignore else []
        stack = [(p, ignore)]
        while stack:
            d, rules = stack.pop()
            if config.respect_gitignore:
                rules = rules + gitignore.own_rules(d) if d != p else rules
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            subdirs = []
            for e in entries:
                name = e.name
                full = e.path[2:] if e.path.startswith("./") and p == "." else e.path
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir and (name in default_names or any(fnmatch(name, g) for g in default_globs)):
                    continue
                if rules and gitignore.ignored(rules, os.path.abspath(full), is_dir):
                    continue
                if config.excluded_by(relative(full, root)) is not None:
                    continue
                if is_dir:
                    subdirs.append((full, rules))
                else:
                    kind = file_kind(full)
                    if kind:
                        add(full, kind)
            stack.extend(reversed(subdirs))
    return out


def cache_directory(root: str) -> str | None:
    d = os.path.join(root, ".bplint_cache", "v2")
    try:
        os.makedirs(d, exist_ok=True)
        gi = os.path.join(root, ".bplint_cache", ".gitignore")
        if not os.path.exists(gi):
            with open(gi, "w", encoding="utf-8") as fh:
                fh.write("# Created by bplint automatically.\n*\n")
        return d
    except OSError:
        return None


def _code_fingerprint() -> str:
    """Sizes and modification times of bplint's own modules: a changed rule invalidates the cache."""
    base = os.path.dirname(os.path.abspath(__file__))
    parts = []
    for d in (base, os.path.join(base, "rules")):
        try:
            for e in sorted(os.scandir(d), key=lambda e: e.name):
                if e.name.endswith(".py"):
                    st = e.stat()
                    parts.append(f"{e.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            pass
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _analyse_file(item: WorkItem) -> Analysis:
    """Analyse one file, through the cache when there is one (runs in worker processes too)."""
    path, kind, data, options, cache_dir, salt = item
    if data is None:
        try:
            data = read_bytes(path)
        except ValueError as exc:
            return Analysis([parse_error(str(exc))])
    key = None
    if cache_dir:
        h = hashlib.sha256(f"{__version__}\0{salt}\0{kind}\0".encode())
        h.update(json.dumps(options, sort_keys=True).encode())
        h.update(data)
        key = h.hexdigest()
        try:
            with open(os.path.join(cache_dir, key), encoding="utf-8") as fh:
                return Analysis.from_json(json.load(fh))
        except (OSError, ValueError, TypeError):
            pass
    analysis = analyse(path, kind, data, options)
    if cache_dir and key:
        try:
            tmp = os.path.join(cache_dir, f".{key}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(analysis.to_json(), fh)
            os.replace(tmp, os.path.join(cache_dir, key))
        except OSError:
            pass
    return analysis


def run(files: list[tuple[str, str]], config: Config, use_cache: bool = True,
        data: dict[str, bytes] | None = None) -> list[tuple[str, Finding]]:
    """Lint files; returns the reported findings as ``(path, finding)`` in path order. ``data``
    gives the content of documents that are not read from disk (standard input)."""
    salt = _code_fingerprint() if use_cache else ""
    cache_dir = cache_directory(config.root) if use_cache else None
    by_dir: dict[str, dict[str, Any]] = {}
    items = []
    for path, kind in files:
        d = os.path.dirname(os.path.abspath(path))
        if d not in by_dir:
            by_dir[d] = options_for(path, config)
        items.append((path, kind, (data or {}).get(path), by_dir[d], cache_dir, salt))
    if len(items) > PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
        results = _parallel(items)
    else:
        results = [_analyse_file(item) for item in items]
    out: list[tuple[str, Finding]] = []
    for (path, _kind), analysis in zip(files, results, strict=True):
        if not analysis.findings and not analysis.noqa:
            continue
        selected: FileSelection = config.selection.for_file(relative(path, config.root))
        out.extend((path, f) for f in selected.apply(analysis.findings, analysis.noqa, analysis.disabled))
    out.sort(key=lambda pf: (pf[0], pf[1].sort_key()))
    return out


def _parallel(items: list[WorkItem]) -> list[Analysis]:
    try:
        from concurrent.futures import ProcessPoolExecutor

        workers = min(os.cpu_count() or 2, 8)
        chunk = max(1, min(64, len(items) // (workers * 8)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(_analyse_file, items, chunksize=chunk))
    except (OSError, ImportError, RuntimeError):
        return [_analyse_file(item) for item in items]
