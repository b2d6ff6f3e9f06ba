# ruff: noqa: PTH119, PTH120
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Reading documents: bounded reads of regular files, decoding, notebooks (IPython syntax
neutralised), requirement files and pyproject.toml, each turned into what the rules walk."""

from __future__ import annotations

import ast
import os
import re
import stat
import warnings
from typing import Any

from bplint.registry import Finding

LINE_SPLIT = re.compile(r"\r\n|\r|\n")
MAX_FILE_SIZE = 5 * 1024 * 1024

REQ_FILE_RE = re.compile(r"^(requirements|constraints)[\w.\-]*\.txt$", re.IGNORECASE)
KINDS = ("python", "notebook", "requirements", "pyproject")
PromptColumns = dict[tuple[int | None, int], int]  # {(cell, line): columns taken by a >>> prompt}


def file_kind(path: str, explicit: bool = False) -> str | None:
    """Kind of document a path holds, or None when bplint does not lint it."""
    base = os.path.basename(path)
    low = base.lower()
    if low.endswith(".py"):
        return "python"
    if low.endswith(".ipynb"):
        return "notebook"
    if base == "pyproject.toml":
        return "pyproject"
    if REQ_FILE_RE.match(base):
        return "requirements"
    if low.endswith(".txt") and os.path.basename(os.path.dirname(path)) == "requirements":
        return "requirements"
    if explicit and "." not in base:
        try:
            head = read_bytes(path, head=128)
        except ValueError:
            return None
        if head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]:
            return "python"
    return None


_FILE_TYPES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def file_type(mode: int) -> str:
    """What a non-regular file is, in words (``a named pipe (FIFO)``, ``a character device``)."""
    for test, words in _FILE_TYPES:
        if test(mode):
            return words
    return "not a regular file"


def read_bytes(path: str, head: int | None = None) -> bytes:
    """Bytes of a regular file (at most ``MAX_FILE_SIZE``, or its first ``head`` bytes); raises
    ValueError with the reason otherwise.

    The file is opened without blocking and checked on the open descriptor, so a named pipe or a
    device (a link to ``/dev/zero``) is refused at once, and no more than the limit is ever read.
    """
    limit = MAX_FILE_SIZE if head is None else head
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"not a regular file: {file_type(st.st_mode)}")
        if head is None and st.st_size > limit:
            raise ValueError(f"file too large ({st.st_size} bytes > {MAX_FILE_SIZE})")
        chunks = []
        left = limit + 1  # one byte more than allowed tells a file that grew while being read
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        if head is not None:
            return data[:head]
        raise ValueError(f"file too large (more than {MAX_FILE_SIZE} bytes)")
    return data


def split_lines(text: str) -> list[str]:
    return LINE_SPLIT.split(text)


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BLANK_OR_COMMENT = re.compile(rb"^[ \t\f]*(?:[#\r\n]|$)")
BOM = b"\xef\xbb\xbf"


def coding_cookie(data: bytes) -> str | None:
    """The PEP 263 encoding declaration of Python source: first line, or second after a comment."""
    lines = data.split(b"\n", 2)
    for n, line in enumerate(lines[:2]):
        m = _COOKIE.match(line)
        if m:
            return m.group(1).decode("ascii", "replace")
        if n == 0 and not _BLANK_OR_COMMENT.match(line):
            return None
    return None


def decode(data: bytes, python: bool = False) -> str:
    """Decode source bytes as Python would (UTF-8, a BOM, a PEP 263 coding cookie for Python
    source). Raises ValueError with the reason."""
    if b"\x00" in data:
        raise ValueError("binary file (contains NUL bytes)")
    cookie = coding_cookie(data) if python else None
    if cookie is not None:
        import codecs

        try:
            codec = codecs.lookup(cookie).name
        except LookupError:
            raise ValueError(f"unknown encoding in the coding declaration: {cookie!r}") from None
        if data.startswith(BOM) and codec != "utf-8":
            raise ValueError(f"encoding problem: {cookie} with a UTF-8 byte order mark")
        try:
            return data.decode("utf-8-sig" if codec == "utf-8" else codec)
        except UnicodeDecodeError as exc:
            raise ValueError(f"cannot decode as {cookie} (byte {exc.start})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not python:  # requirement files and notebooks: a cookie is honoured too (pip does)
            cookie = coding_cookie(data)
            if cookie:
                try:
                    return data.decode(cookie)
                except (LookupError, UnicodeDecodeError):
                    pass
        raise ValueError(f"cannot decode as UTF-8 (byte {exc.start})") from None


# -- notebooks --------------------------------------------------------------------------------
PY_BODY_CELL_MAGICS = frozenset({
    "time", "timeit", "capture", "prun", "debug", "memit", "mprun", "px", "pypy", "python", "python3",
    "cache", "skip", "tensorflow_version", "autoreload", "snakeviz", "heat", "lprun",
})
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system", "shell"})

_ASSIGN_MAGIC = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)[!%]")
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.\[\]()]+\?{1,2})\s*$")


class Install:
    """A ``pip install`` command: its packages with positions (line, col, token, cell)."""

    __slots__ = ("cell", "constrained", "packages")

    def __init__(self, cell: int | None, packages: list[tuple[str, bool, int, int]],
                 constrained: bool) -> None:
        self.cell = cell
        self.packages = packages
        self.constrained = constrained


def _shell_words(cmd: str) -> list[str]:
    import shlex

    try:
        return shlex.split(cmd, comments=True)
    except ValueError:
        return cmd.split()


_PIP_VALUE_OPTS = frozenset({
    "-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f",
    "--find-links", "-t", "--target", "--prefix", "--root", "--platform", "--python-version",
    "--implementation", "--abi", "--src", "--upgrade-strategy", "--progress-bar", "--log", "--cache-dir",
    "--trusted-host", "--proxy", "--timeout", "--retries", "--exists-action", "--config-settings", "-C",
    "--global-option", "--no-binary", "--only-binary", "--index", "--report", "--python", "--group",
})


def parse_install(command: str) -> tuple[list[tuple[str, bool]], bool] | None:
    """Packages of a pip install command line (``(spec, editable)`` pairs) and whether it has -c.

    Returns None when the command is not a pip install.
    """
    words = _shell_words(command)
    i = 0
    if words[:1] == ["uv"]:
        i = 1
    if i < len(words) and re.match(r"^(pip3?(\.\d+)?|.*python[\d.]*|\{sys\.executable\}|"
                                   r"\$\(which python\d?\))$", words[i]):
        if words[i].startswith(("pip", "pip3")):
            i += 1
        elif words[i + 1:i + 3] == ["-m", "pip"]:
            i += 3
        else:
            return None
    else:
        return None
    if i >= len(words) or words[i] != "install":
        return None
    out: list[tuple[str, bool]] = []
    constrained = False
    it = iter(words[i + 1:])
    for w in it:
        if w in ("-e", "--editable"):
            out.append((next(it, ""), True))
        elif w.startswith("-"):
            if w in ("-c", "--constraint") or (w.startswith(("--constraint=", "-c")) and w != "-c"):
                constrained = True
            if w in _PIP_VALUE_OPTS:
                next(it, None)
        elif w in ("&&", "||", ";", "|"):
            break
        else:
            out.append((w, False))
    return out, constrained


def _install_from(cmd: str, line_no: int, line: str, cell: int | None) -> Install | None:
    parsed = parse_install(cmd)
    if parsed is None:
        return None
    specs, constrained = parsed
    pkgs = []
    pos = 0
    for spec, editable in specs:
        col = line.find(spec, pos)
        if col < 0:
            col = max(line.find(spec.split("[")[0].split("=")[0], pos), 0)
        else:
            pos = col + len(spec)
        pkgs.append((spec, editable, line_no, col))
    return Install(cell, pkgs, constrained)


# IPython's classic prompts (a doctest pasted into a cell) and automagic commands (``pip install x``
# without ``!`` or ``%``: IPython runs the magic of that name).
_PROMPT = re.compile(r"^(>>>|\.\.\.)( |$)")
_AUTOMAGIC = re.compile(r"^\s*(pip|conda|mamba|micromamba|uv)\s+(install|uninstall|list|show|freeze|"
                        r"download|config|create|update|upgrade|remove|pip|add|sync)\b")


def _strip_prompts(lines: list[str], cell: int | None, prompt_cols: PromptColumns) -> list[str]:
    """Remove ``>>> ``/``... `` prompts as IPython does when a cell starts with one."""
    first = next((line for line in lines if line.strip()), "")
    if not _PROMPT.match(first):
        return lines
    out = []
    for n, line in enumerate(lines, start=1):
        m = _PROMPT.match(line)
        if m:
            prompt_cols[(cell, n)] = len(m.group(0))
            line = line[len(m.group(0)):]
        out.append(line)
    return out


def neutralise_cell(lines: list[str], cell: int | None, installs: list[Install],
                    prompt_cols: PromptColumns | None = None) -> str | None:
    """Python source of a code cell with IPython syntax replaced, same line numbers.

    Returns None when the cell is not Python (``%%bash``, ``%%html``...); pip install commands
    found are appended to ``installs``; the columns taken by stripped ``>>>`` prompts are recorded in
    ``prompt_cols`` as ``{(cell, line): width}``.
    """
    out = list(lines)
    start = 0
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(None, 1)[0] if len(first) > 2 else ""
        if magic in SHELL_CELL_MAGICS:
            for n, line in enumerate(lines[1:], start=2):
                inst = _install_from(line.strip(), n, line, cell)
                if inst:
                    installs.append(inst)
            return None
        if magic not in PY_BODY_CELL_MAGICS:
            return None
        out[0] = ""
        start = 1
    out = _strip_prompts(out, cell, {} if prompt_cols is None else prompt_cols)
    continuation = False
    for idx in range(start, len(out)):
        line = out[idx]
        if continuation:
            out[idx] = ""
            continuation = line.rstrip().endswith("\\")
            continue
        stripped = line.lstrip()
        if not stripped or (stripped[0] not in "!%?" and "?" not in stripped and "=" not in stripped
                            and not _AUTOMAGIC.match(stripped)):
            continue
        indent = line[: len(line) - len(stripped)]
        automagic = _AUTOMAGIC.match(stripped) is not None
        if stripped[0] in "!%" or automagic:
            cmd = stripped if automagic else stripped.lstrip("!%")
            inst = _install_from(cmd.rstrip("\\ "), idx + 1, lines[idx], cell)  # columns of the cell's line
            if inst:
                installs.append(inst)
            out[idx] = indent + "pass"
            continuation = line.rstrip().endswith("\\")
            continue
        m = _ASSIGN_MAGIC.match(line)
        if m:
            out[idx] = m.group(1) + "None"
            continuation = line.rstrip().endswith("\\")
        elif _HELP.match(line):
            out[idx] = indent + "pass"
    return "\n".join(out)


def notebook_cells(nb: object) -> list[tuple[int, object]]:
    """``(1-based index among all cells, source)`` of the code cells. Raises ValueError."""
    if not isinstance(nb, dict):
        raise ValueError("not a notebook (top level is not a JSON object)")
    cells = nb.get("cells")
    if cells is None and isinstance(nb.get("worksheets"), list):  # nbformat 3
        cells = []
        for ws in nb["worksheets"]:
            if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
                for c in ws["cells"]:
                    if isinstance(c, dict) and "input" in c:
                        c = {"cell_type": c.get("cell_type"), "source": c.get("input")}
                    cells.append(c)
    if not isinstance(cells, list):
        raise ValueError("not a notebook (no 'cells' list)")
    out = []
    for n, c in enumerate(cells, start=1):
        if isinstance(c, dict) and c.get("cell_type") == "code":
            out.append((n, c.get("source", "")))
    return out


_SOURCE_KEY = re.compile(r'^([ \t]*)"source": \[[ \t]*$')


def notebook_line_map(text: str, nb: object) -> dict[int, tuple[int, list[int]]]:
    """Where each code cell's source lines are in the ``.ipynb`` file, for the standard layout.

    Returns ``{cell: (first file line, [column of each source line's text])}`` for notebooks
    written with one JSON string per source line (as Jupyter and nbformat write them), and an
    empty dict for any other layout (checked line by line, never guessed).
    """
    import json

    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return {}
    raw = split_lines(text)
    starts = [n for n, line in enumerate(raw, start=1) if line.endswith("[") and _SOURCE_KEY.match(line)]
    out: dict[int, tuple[int, list[int]]] = {}
    pos = 0
    for index, cell in enumerate(cells, start=1):
        source = cell.get("source") if isinstance(cell, dict) else None
        if not isinstance(source, list) or not source:
            continue
        if pos >= len(starts):
            return {}
        base = starts[pos] + 1
        pos += 1
        cols = []
        for k, piece in enumerate(source):
            if base - 1 + k >= len(raw):
                return {}
            line = raw[base - 1 + k]
            body = line.strip().removesuffix(",")
            if body not in (json.dumps(piece), json.dumps(piece, ensure_ascii=False)):
                return {}
            cols.append(len(line) - len(line.lstrip()) + 1)
        out[index] = (base, cols)
    return out


def cell_text(source: object) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None




# -- requirement files ----------------------------------------------------------------------
_COMMENT = re.compile(r"(^|\s)#.*$")


def requirement_lines(text: str) -> list[tuple[int, int, str]]:
    """Logical requirement lines ``(line, col, text)`` with comments and continuations removed."""
    out = []
    pending = ""
    start, col = 0, 0
    for n, raw in enumerate(split_lines(text), start=1):
        line = _COMMENT.sub("", raw)
        if not pending:
            start, col = n, len(raw) - len(raw.lstrip())
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            out.append((start, col, full))
    if pending.strip():
        out.append((start, col, pending.strip()))
    return out


# -- documents, read for the rules ----------------------------------------------------------
class Parsed:
    """A document read for the rules: the ASTs to walk (``(cell or None, tree)``), its source lines
    (per cell for notebooks), what else the rules read (installs, requirements, pyproject table,
    notebook JSON) and the errors met while reading (BPL000 findings)."""

    __slots__ = ("errors", "installs", "lines", "notebook", "prompt_cols", "pyproject", "requirements",
                 "text", "trees")

    def __init__(self, text: str) -> None:
        self.text = text
        self.trees: list[tuple[int | None, ast.Module]] = []
        self.lines: dict[int | None, list[str]] = {}
        self.errors: list[Finding] = []
        self.installs: list[Install] = []
        self.requirements: list[tuple[int, int, str]] = []
        self.pyproject: dict[str, Any] | None = None
        self.notebook: dict[str, Any] | None = None
        self.prompt_cols: PromptColumns = {}


def parse_error(message: str, line: int = 1, col: int = 0, cell: int | None = None) -> Finding:
    return Finding("BPL000", message, line, col, line, col, cell)


def _parse_python(source: str, path: str, cell: int | None, parsed: Parsed) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed.trees.append((cell, ast.parse(source, path)))
    except SyntaxError as exc:
        col = max((exc.offset or 1) - 1, 0)
        parsed.errors.append(parse_error(f"SyntaxError: {exc.msg}", exc.lineno or 1, col, cell))
    except (ValueError, MemoryError, OverflowError, RecursionError) as exc:
        where = f"cell {cell}: " if cell is not None else ""
        message = f"{where}cannot parse: {type(exc).__name__}: {exc}"[:300]
        parsed.errors.append(parse_error(message, cell=cell))


def _read_python(path: str, text: str) -> Parsed:
    parsed = Parsed(text)
    parsed.lines[None] = split_lines(text)
    _parse_python(text, path, None, parsed)
    return parsed


def _read_notebook(path: str, text: str) -> Parsed:
    import json

    parsed = Parsed(text)
    try:
        nb = json.loads(text)
        cells = notebook_cells(nb)
    except (ValueError, RecursionError) as exc:
        parsed.errors.append(parse_error(f"invalid notebook: {str(exc)[:200]}"))
        return parsed
    parsed.notebook = nb
    for index, source in cells:
        src = cell_text(source)
        if src is None:
            parsed.errors.append(parse_error("'source' is not a string or a list of strings", cell=index))
            continue
        lines = split_lines(src)
        parsed.lines[index] = lines
        py = neutralise_cell(lines, index, parsed.installs, parsed.prompt_cols)
        if py is not None:
            _parse_python(py, path, index, parsed)
    return parsed


def _read_requirements(path: str, text: str) -> Parsed:
    parsed = Parsed(text)
    parsed.lines[None] = split_lines(text)
    parsed.requirements = requirement_lines(text)
    return parsed


def _read_pyproject(path: str, text: str) -> Parsed:
    import tomllib

    parsed = Parsed(text)
    parsed.lines[None] = split_lines(text)
    try:
        parsed.pyproject = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        parsed.errors.append(parse_error(f"invalid TOML: {exc}"))
    return parsed


_READERS = {"python": _read_python, "notebook": _read_notebook, "requirements": _read_requirements,
            "pyproject": _read_pyproject}


def read_document(path: str, kind: str, data: bytes) -> Parsed:
    """Decode and parse a document of a known kind; problems become BPL000 findings in ``errors``."""
    try:
        text = decode(data, python=kind == "python")
    except ValueError as exc:
        parsed = Parsed("")
        parsed.errors.append(parse_error(f"cannot read: {exc}"))
        return parsed
    return _READERS[kind](path, text)
