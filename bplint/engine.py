# ruff: noqa: PTH100, PTH103, PTH105, PTH110, PTH112, PTH113, PTH118, PTH120, PTH123, PTH202
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Linting engine: file discovery, one parse and one pass per file, suppression, cache, workers."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import warnings

from bplint import __version__
from bplint.analysis import Context
from bplint.registry import Finding, all_rules
from bplint.sources import (
    MAX_FILE_SIZE,
    cell_text,
    decode,
    file_kind,
    neutralise_cell,
    notebook_cells,
    notebook_line_map,
    requirement_lines,
    split_lines,
)

PARALLEL_THRESHOLD = 64
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
DISABLE = re.compile(r"#\s*bplint:\s*disable\s*=\s*(?P<codes>[A-Z]+[0-9]*(?:[\s,]+[A-Z]+[0-9]*)*)",
                     re.IGNORECASE)


def _error(message: str, line: int = 1, col: int = 0, cell: int | None = None) -> Finding:
    return Finding("BPL000", message, line, col, line, col, cell)


def _parse(source: str, filename: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, filename)


def _syntax_error(exc: BaseException, cell: int | None = None) -> Finding:
    where = f"cell {cell}: " if cell is not None else ""
    if isinstance(exc, SyntaxError):
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        return _error(f"SyntaxError: {exc.msg}", line, col, cell)
    return _error(f"{where}cannot parse: {type(exc).__name__}: {exc}"[:300], 1, 0, cell)


def _codes(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [c.upper() for c in re.split(r"[\s,]+", text) if c]


def _suppress(findings: list[Finding], sources: dict) -> list[Finding]:
    """Apply ``# noqa`` (per line) and ``# bplint: disable=`` (per file) comments."""
    disabled: list[str] = []
    noqa: dict = {}
    for cell, lines in sources.items():
        if isinstance(lines, str):  # split lazily: most files have no findings
            lines = split_lines(lines)
        for n, line in enumerate(lines, start=1):
            if "#" not in line:
                continue
            low = line.lower()
            if "bplint:" in low:
                m = DISABLE.search(line)
                if m:
                    disabled += _codes(m.group("codes")) or []
            if "noqa" in low:
                m = NOQA.search(line)
                if m:
                    noqa[(cell, n)] = _codes(m.group("codes"))  # None: all codes
    if not disabled and not noqa:
        return findings
    out = []
    for f in findings:
        if any(f.code.startswith(d) or d == "ALL" for d in disabled):
            continue
        if f.code != "BPL000":
            hit = False
            for line in {f.line, f.end_line}:
                key = (f.cell, line)
                if key in noqa:
                    codes = noqa[key]
                    if codes is None or any(f.code.startswith(c) for c in codes):
                        hit = True
            if hit:
                continue
        out.append(f)
    return out


def _map_to_file(findings: list[Finding], line_map: dict) -> None:
    """Attach positions in the .ipynb file to notebook findings (standard layout only)."""
    for f in findings:
        entry = line_map.get(f.cell)
        if entry is None:
            continue
        base, cols = entry
        if not (1 <= f.line <= len(cols) and 1 <= f.end_line <= len(cols)):
            continue
        f.file_pos = (base + f.line - 1, cols[f.line - 1] + f.col,
                      base + f.end_line - 1, cols[f.end_line - 1] + f.end_col)


def lint_source(path: str, kind: str, data: bytes, options: dict) -> list[Finding]:
    """All findings of one document, before selection (selection is applied by the caller)."""
    try:
        return _lint_source(path, kind, data, options)
    except RecursionError:
        return [_error("cannot parse: nesting too deep")]
    except Exception as exc:  # never a traceback: report and go on
        return [Finding("BPL900", f"internal error: {type(exc).__name__}: {exc}"[:300], 1, 0, 1, 0)]


def _keep_fixes(ctx, findings: list[Finding], out: list | None) -> None:
    if out is not None and ctx.fixes:
        keep = {id(f) for f in findings}
        out.extend((f, fx) for f, fx in ctx.fixes if id(f) in keep)


def _lint_source(path: str, kind: str, data: bytes, options: dict,
                 fixes: list | None = None) -> list[Finding]:
    try:
        text = decode(data)
    except ValueError as exc:
        return [_error(f"cannot read: {exc}")]
    errors: list[Finding] = []
    sources: dict = {}
    ctx = Context(path, kind, options, all_rules(), text)
    if kind == "python":
        try:
            tree = _parse(text, path)
        except (SyntaxError, ValueError, MemoryError, OverflowError) as exc:
            return _suppress([_syntax_error(exc)], {None: text})
        sources[None] = text
        ctx.prescan([tree])
        ctx.walk(tree)
    elif kind == "notebook":
        try:
            nb = json.loads(text)
            cells = notebook_cells(nb)
        except (ValueError, RecursionError) as exc:
            return [_error(f"invalid notebook: {str(exc)[:200]}")]
        trees = []
        for index, source in cells:
            src = cell_text(source)
            if src is None:
                errors.append(_error("'source' is not a string or a list of strings", cell=index))
                continue
            lines = split_lines(src)
            sources[index] = lines
            py = neutralise_cell(lines, index, ctx.installs)
            if py is None:
                continue
            try:
                trees.append((index, _parse(py, path)))
            except (SyntaxError, ValueError, MemoryError, OverflowError) as exc:
                errors.append(_syntax_error(exc, index))
        ctx.prescan([t for _, t in trees])
        for index, tree in trees:
            ctx.walk(tree, cell=index)
        ctx.notebook = nb
        ctx.finish()
        findings = _suppress(errors + ctx.findings, sources) if errors or ctx.findings else []
        _keep_fixes(ctx, findings, fixes)
        if findings:
            _map_to_file(findings, notebook_line_map(text, nb))
            findings.sort(key=Finding.sort_key)
        return findings
    elif kind == "requirements":
        sources[None] = text
        ctx.requirements = requirement_lines(text)
    elif kind == "pyproject":
        import tomllib

        try:
            ctx.pyproject = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            return _suppress([_error(f"invalid TOML: {exc}")], {None: text})
        ctx.pyproject_text = text
        sources[None] = text
    ctx.finish()
    findings = errors + ctx.findings
    if findings:
        findings = _suppress(findings, sources)
        findings.sort(key=Finding.sort_key)
    _keep_fixes(ctx, findings, fixes)
    return findings


# -- files ------------------------------------------------------------------------------------
def read_file(path: str) -> bytes:
    """File bytes; raises ValueError with the reason when the file cannot be linted."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_SIZE:
            raise ValueError(f"file too large ({size} bytes > {MAX_FILE_SIZE})")
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None


def lint_file(path: str, kind: str, options: dict, cache_dir: str | None, opts_hash: str) -> list[Finding]:
    try:
        data = read_file(path)
    except ValueError as exc:
        return [_error(str(exc))]
    key = None
    if cache_dir:
        h = hashlib.sha256(f"{__version__}\0{opts_hash}\0{kind}\0".encode())
        h.update(data)
        key = h.hexdigest()
        try:
            with open(os.path.join(cache_dir, key), encoding="utf-8") as fh:
                return [Finding.from_list(x) for x in json.load(fh)]
        except (OSError, ValueError, TypeError):
            pass
    findings = lint_source(path, kind, data, options)
    if key:
        try:
            tmp = os.path.join(cache_dir, f".{key}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump([f.to_list() for f in findings], fh)
            os.replace(tmp, os.path.join(cache_dir, key))
        except OSError:
            pass
    return findings


def _work(item):
    path, kind, options, cache_dir, opts_hash = item
    return lint_file(path, kind, options, cache_dir, opts_hash)


def _rel(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(path), root)
    except ValueError:
        rel = path
    return rel.replace(os.sep, "/")


def discover(paths: list[str], config) -> tuple[list[tuple[str, str]], list[str]]:
    """Files to lint ``(path, kind)`` and missing paths."""
    from fnmatch import fnmatch

    found: list[tuple[str, str]] = []
    missing: list[str] = []
    seen: set[str] = set()
    root = config.root
    default_globs = [p for p in config_default_excludes() if "*" in p]
    default_names = set(config_default_excludes())

    def add(path: str, kind: str) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            found.append((path, kind))

    for p in paths:
        if os.path.isfile(p):
            kind = file_kind(p, explicit=True)
            if kind and not config.is_excluded(_rel(p, root)):
                add(p, kind)
            continue
        if not os.path.isdir(p):
            missing.append(p)
            continue
        stack = [p]
        while stack:
            d = stack.pop()
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
                if is_dir:
                    if name in default_names or any(fnmatch(name, g) for g in default_globs):
                        continue
                    if config.is_excluded(_rel(full, root)):
                        continue
                    subdirs.append(full)
                else:
                    kind = file_kind(full)
                    if kind and not config.is_excluded(_rel(full, root)):
                        add(full, kind)
            stack.extend(reversed(subdirs))
    return found, missing


def config_default_excludes():
    from bplint.config import DEFAULT_EXCLUDES

    return DEFAULT_EXCLUDES


def cache_directory(root: str) -> str | None:
    d = os.path.join(root, ".bplint_cache", "v1")
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


def run(files: list[tuple[str, str]], config, use_cache: bool = True) -> list[tuple[str, Finding]]:
    """Lint files; returns selected findings as ``(path, finding)`` in path order."""
    options = config.options()
    opts_hash = config.options_hash() + (_code_fingerprint() if use_cache else "")
    cache_dir = cache_directory(config.root) if use_cache else None
    items = [(path, kind, options, cache_dir, opts_hash) for path, kind in files]
    if len(items) > PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
        results = _parallel(items)
    else:
        results = [_work(item) for item in items]
    out: list[tuple[str, Finding]] = []
    for (path, _kind), findings in zip(files, results, strict=True):
        if not findings:
            continue
        ignored = config.ignored_for(_rel(path, config.root)) if config.per_file_ignores else ()
        for f in findings:
            if config.enabled(f.code) and not any(f.code.startswith(c) for c in ignored):
                out.append((path, f))
    out.sort(key=lambda pf: (pf[0], pf[1].sort_key()))
    return out


def _parallel(items):
    try:
        from concurrent.futures import ProcessPoolExecutor

        workers = min(os.cpu_count() or 2, 8)
        chunk = max(1, min(64, len(items) // (workers * 8)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(_work, items, chunksize=chunk))
    except (OSError, ImportError, RuntimeError):
        return [_work(item) for item in items]
